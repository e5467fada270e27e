// Replay windows in Consul KV, for replicas on several hosts: one key per
// session, `mcpmesh/events/<server>/<sessionKey>`, whose value is the window
// (`{"v":1,"events":[{id,data}...]}`), trimmed to its bounds on every append.
//
// Appends are check-and-set on the key's ModifyIndex, one at a time per window
// in a process and retried after a random pause: two replicas appending to one
// window at once (calls and GET stream of one session on different replicas)
// both land. A value is at most maxBytes plus
// one event (Consul refuses values over 512 KiB: keep maxBytes well below).
// The number of windows is bounded by a sweep after every `sweepEvery`
// appends: above maxWindows, the windows whose newest event is oldest go.
import { z } from 'zod';
import type { ConsulHttp } from '../../lib/consul/consul-http.js';
import { EVENT_WINDOW_KV_PREFIX, SERVER_NAME, SERVER_NAME_RULE } from '../../lib/mesh-contracts.js';
import {
  checkBounds,
  checkWindowKey,
  DEFAULT_WINDOW_BOUNDS,
  EVENT_ID_PATTERN,
  EventWindowError,
  type EventWindowStore,
  eventTime,
  type StoredEvent,
  trimWindow,
  type WindowBounds,
} from './event-window-store.js';
import { SweepSchedule } from './sweep-schedule.js';

const TXN_MAX_OPS = 64;
const CAS_TRIES = 8;

const WindowSchema = z.strictObject({
  v: z.literal(1),
  events: z.array(z.strictObject({ id: z.string().regex(EVENT_ID_PATTERN), data: z.string() })).max(10_000),
});

interface KvEntry {
  readonly Key: string;
  readonly Value?: string | null;
  readonly ModifyIndex?: number;
}

export interface ConsulEventWindowStoreOptions {
  readonly http: Pick<ConsulHttp, 'request'>;
  readonly server: string;
  readonly bounds?: WindowBounds;
  /** Lower than the directory store's: every value is replicated by Consul's servers. */
  readonly maxWindows?: number;
  readonly sweepEvery?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly onError?: (message: string) => void;
}

function decodeWindow(value: string | null | undefined): StoredEvent[] {
  if (typeof value !== 'string') return [];
  try {
    const parsed = WindowSchema.safeParse(JSON.parse(Buffer.from(value, 'base64').toString('utf8')));
    return parsed.success ? parsed.data.events : [];
  } catch {
    return [];
  }
}

export class ConsulEventWindowStore implements EventWindowStore {
  readonly shared = true;
  readonly bounds: WindowBounds;
  private readonly prefix: string;
  private readonly maxWindows: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly sweeps: SweepSchedule;
  private readonly appending = new Map<string, Promise<void>>();

  constructor(private readonly opts: ConsulEventWindowStoreOptions) {
    if (!SERVER_NAME.test(opts.server)) throw new EventWindowError(SERVER_NAME_RULE, 'invalid_key');
    this.prefix = `${EVENT_WINDOW_KV_PREFIX}${opts.server}/`;
    this.bounds = checkBounds(opts.bounds ?? DEFAULT_WINDOW_BOUNDS);
    this.maxWindows = opts.maxWindows ?? 2_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.sweeps = new SweepSchedule(() => this.sweepOnce(), {
      every: opts.sweepEvery ?? 64,
      intervalMs: 60_000,
      what: this.prefix,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }

  append(sessionKey: string, event: StoredEvent): Promise<void> {
    checkWindowKey(sessionKey);
    // One append at a time per window in this process: only other replicas contend.
    const previous = this.appending.get(sessionKey) ?? Promise.resolve();
    const next = previous.then(() => this.appendNow(sessionKey, event));
    const settled = next.catch(() => undefined);
    this.appending.set(sessionKey, settled);
    void settled.then(() => {
      if (this.appending.get(sessionKey) === settled) this.appending.delete(sessionKey);
    });
    return next;
  }

  private async appendNow(sessionKey: string, event: StoredEvent): Promise<void> {
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      // Another replica won the last round: wait a little, at random, before reading again.
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** Math.min(attempt, 4)));
      const { events, index } = await this.read(sessionKey);
      const next = trimWindow([...events, event], this.bounds, this.now());
      const res = await this.opts.http.request<boolean>('PUT', this.kvPath(sessionKey), {
        query: { cas: String(index) },
        body: { v: 1, events: next },
        endpoint: 'kv_event_window_put',
        timeoutMs: this.timeoutMs,
      });
      if (res.body === true) {
        this.sweeps.wrote();
        return;
      }
    }
    throw new Error(`the replay window stayed contended for ${CAS_TRIES} check-and-set attempts`);
  }

  async list(sessionKey: string, skip?: (id: string) => boolean): Promise<readonly StoredEvent[]> {
    checkWindowKey(sessionKey);
    const window = trimWindow((await this.read(sessionKey)).events, this.bounds, this.now());
    return skip === undefined ? window : window.filter((e) => !skip(e.id));
  }

  async discard(sessionKey: string): Promise<void> {
    checkWindowKey(sessionKey);
    await this.opts.http.request<boolean>('DELETE', this.kvPath(sessionKey), {
      endpoint: 'kv_event_window_delete',
      timeoutMs: this.timeoutMs,
    });
  }

  close(): Promise<void> {
    return this.sweeps.close();
  }

  sweep(): Promise<void> {
    return this.sweeps.run();
  }

  /** The window and the index to check-and-set against (0: the key does not exist yet). */
  private async read(sessionKey: string): Promise<{ events: StoredEvent[]; index: number }> {
    const res = await this.opts.http.request<KvEntry[]>('GET', this.kvPath(sessionKey), {
      endpoint: 'kv_event_window_get',
      timeoutMs: this.timeoutMs,
      notFoundAs: [],
    });
    const entry = Array.isArray(res.body) ? res.body[0] : undefined;
    return { events: decodeWindow(entry?.Value), index: entry?.ModifyIndex ?? 0 };
  }

  private async sweepOnce(): Promise<void> {
    const keys = await this.opts.http.request<string[]>('GET', `/v1/kv/${this.prefix}`, {
      query: { keys: '' },
      endpoint: 'kv_event_window_keys',
      timeoutMs: this.timeoutMs,
      notFoundAs: [],
    });
    if (!Array.isArray(keys.body) || keys.body.length <= this.maxWindows) return;
    const all = await this.opts.http.request<KvEntry[]>('GET', `/v1/kv/${this.prefix}`, {
      query: { recurse: '' },
      endpoint: 'kv_event_window_list',
      timeoutMs: this.timeoutMs * 4,
      notFoundAs: [],
    });
    const now = this.now();
    const doomed: string[] = [];
    const live: { key: string; at: number }[] = [];
    for (const e of Array.isArray(all.body) ? all.body : []) {
      if (typeof e.Key !== 'string' || !e.Key.startsWith(this.prefix)) continue;
      const newest = decodeWindow(e.Value).at(-1);
      if (newest === undefined || now - eventTime(newest.id) >= this.bounds.maxAgeMs) doomed.push(e.Key);
      else live.push({ key: e.Key, at: eventTime(newest.id) });
    }
    const target = Math.floor(this.maxWindows * 0.9);
    if (live.length > target) {
      live.sort((a, b) => a.at - b.at);
      for (const e of live.slice(0, live.length - target)) doomed.push(e.key);
    }
    for (let i = 0; i < doomed.length; i += TXN_MAX_OPS) {
      const ops = doomed.slice(i, i + TXN_MAX_OPS).map((Key) => ({ KV: { Verb: 'delete', Key } }));
      await this.opts.http.request<unknown>('PUT', '/v1/txn', { body: ops, endpoint: 'kv_event_window_evict', timeoutMs: this.timeoutMs });
    }
  }

  private kvPath(sessionKey: string): string {
    return `/v1/kv/${this.prefix}${sessionKey}`;
  }
}
