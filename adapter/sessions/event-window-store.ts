// The replay window of a 2025-era session's GET stream: the server messages
// sent (or meant) for that stream lately, so that a client reconnecting with
// Last-Event-ID gets what it missed, on any replica that shares the store.
//
// An event id names its stream and its place and nothing else: `g-` (the GET
// stream, the only stream kept here), the writer's clock in ms, the writer's
// own counter and the writer's random tag. Ids sort in the order they were
// written on one host; they carry no session key and no payload, so a client
// learns nothing from them, and a forged one only moves its own session's
// cursor (the window is reached through the authenticated session id).
//
// The window is bounded in events, bytes and age (WindowBounds); a store is
// bounded in sessions too. Three stores, as for the session state: memory,
// a directory, Consul KV.
import { randomBytes } from 'node:crypto';
import { CodedError } from '../../lib/coded-error.js';
import { checkSessionKey } from './session-state-store.js';

export interface StoredEvent {
  readonly id: string;
  /** The JSON-RPC message as sent, one line. */
  readonly data: string;
}

export interface WindowBounds {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_WINDOW_BOUNDS: WindowBounds = { maxEvents: 128, maxBytes: 256 * 1024, maxAgeMs: 5 * 60_000 };
/** Sessions with a window, per store: the oldest windows go first beyond it. */
export const DEFAULT_MAX_WINDOWS = 10_000;

export const EVENT_ID_PATTERN = /^g-\d{14}-[0-9a-z]{7}-[0-9a-f]{8}$/;
/** A Last-Event-ID longer than this is not one of ours; not even matched. */
export const MAX_EVENT_ID_LENGTH = 40;

export class EventWindowError extends CodedError<'invalid_bounds' | 'invalid_key'> {}

export interface EventWindowStore {
  /** Adds an event and trims the window to its bounds. */
  append(sessionKey: string, event: StoredEvent): Promise<void>;
  /**
   * The window, oldest first, within its bounds (expired events are not
   * returned); events whose id `skip` accepts are left out (and not read, where
   * reading costs: a stream polling the window skips what it delivered).
   */
  list(sessionKey: string, skip?: (id: string) => boolean): Promise<readonly StoredEvent[]>;
  /** Removes a session's window (the client ended the session: what it was sent is not kept for anyone). */
  discard(sessionKey: string): Promise<void>;
  /** Whether other processes may write the same windows (then a stream follows them). */
  readonly shared: boolean;
  readonly bounds: WindowBounds;
  close(): Promise<void>;
}

export function checkBounds(b: WindowBounds): WindowBounds {
  for (const [k, v] of Object.entries(b))
    if (!Number.isSafeInteger(v) || v < 1) throw new EventWindowError(`${k} must be a positive integer`, 'invalid_bounds');
  return b;
}

export function checkWindowKey(sessionKey: string): void {
  checkSessionKey(sessionKey);
}

/** The writer's clock at the event, read from its id. */
export function eventTime(id: string): number {
  return Number(id.slice(2, 16));
}

export function isEventId(text: string): boolean {
  return text.length <= MAX_EVENT_ID_LENGTH && EVENT_ID_PATTERN.test(text);
}

/** Makes the ids of one process: unique per writer, ordered per writer. */
export class EventIds {
  private seq = 0;
  private readonly tag = randomBytes(4).toString('hex');

  constructor(private readonly now: () => number = Date.now) {}

  next(): string {
    this.seq = (this.seq + 1) % 36 ** 7;
    return `g-${String(this.now()).padStart(14, '0')}-${this.seq.toString(36).padStart(7, '0')}-${this.tag}`;
  }
}

/**
 * The events a window keeps, oldest first: not older than maxAgeMs, the
 * newest maxEvents, and of those the newest that fit in maxBytes.
 */
export function trimWindow(events: readonly StoredEvent[], bounds: WindowBounds, now: number): StoredEvent[] {
  const sorted = [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const fresh = sorted.filter((e) => now - eventTime(e.id) < bounds.maxAgeMs).slice(-bounds.maxEvents);
  let bytes = 0;
  let from = fresh.length;
  while (from > 0) {
    const size = Buffer.byteLength(fresh[from - 1]!.data, 'utf8');
    if (bytes + size > bounds.maxBytes) break;
    bytes += size;
    from--;
  }
  return fresh.slice(from);
}

export interface MemoryEventWindowStoreOptions {
  readonly bounds?: WindowBounds;
  readonly maxWindows?: number;
  readonly now?: () => number;
}

/** One replica's windows: a reconnect to the same replica resumes. */
export class MemoryEventWindowStore implements EventWindowStore {
  readonly shared = false;
  readonly bounds: WindowBounds;
  /** Map order is write order: the first window is the one written longest ago. */
  private readonly windows = new Map<string, StoredEvent[]>();
  private readonly maxWindows: number;
  private readonly now: () => number;

  constructor(opts: MemoryEventWindowStoreOptions = {}) {
    this.bounds = checkBounds(opts.bounds ?? DEFAULT_WINDOW_BOUNDS);
    this.maxWindows = opts.maxWindows ?? DEFAULT_MAX_WINDOWS;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.windows.size;
  }

  async append(sessionKey: string, event: StoredEvent): Promise<void> {
    checkWindowKey(sessionKey);
    const events = trimWindow([...(this.windows.get(sessionKey) ?? []), event], this.bounds, this.now());
    this.windows.delete(sessionKey);
    this.windows.set(sessionKey, events);
    for (const k of this.windows.keys()) {
      if (this.windows.size <= this.maxWindows) break;
      this.windows.delete(k);
    }
  }

  async list(sessionKey: string, skip?: (id: string) => boolean): Promise<readonly StoredEvent[]> {
    checkWindowKey(sessionKey);
    const events = this.windows.get(sessionKey);
    const window = events === undefined ? [] : trimWindow(events, this.bounds, this.now());
    return skip === undefined ? window : window.filter((e) => !skip(e.id));
  }

  async discard(sessionKey: string): Promise<void> {
    checkWindowKey(sessionKey);
    this.windows.delete(sessionKey);
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}
