// The part of a 2025-era session that changes while it lives (the logging
// level, resource subscriptions, and whether it was ended) and must follow it
// to another replica. The id carries what is fixed at `initialize`; this is
// the rest, kept in a store the replicas share, keyed by the id's sessionKey.
//
// Writes happen when the state changes (subscribe, unsubscribe, setLevel,
// DELETE), reads when a replica adopts a session it does not know: never per
// call. `initialize` writes nothing, so a flood of it cannot grow a store; each
// store is bounded in entries anyway, evicting the oldest sessions first.

import { z } from 'zod';
import { CodedError } from '../../lib/coded-error.js';
import { LOG_LEVELS, type LogLevel } from '../../lib/mesh-contracts.js';
import { SESSION_KEY_PATTERN } from './session-id-codec.js';

export interface SessionState {
  readonly logLevel?: LogLevel;
  readonly subscriptions: readonly string[];
  /**
   * Set when the client ended the session (DELETE): the id stays
   * cryptographically valid until it expires, and this is what makes another
   * replica answer 404 instead of adopting it. An evicted entry loses it.
   */
  readonly ended?: boolean;
  /**
   * The replica that last took the session over or changed its state: a
   * replica that was paused gives the session up when this names another
   * (session-recheck.ts).
   */
  readonly holder?: string;
}

/** A holder id: what a replica writes (12 base64url characters), checked when read back. */
export const HOLDER_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const EMPTY_SESSION_STATE: SessionState = { subscriptions: [] };

/** A serialized record's bound: ~100 bytes is typical; this caps what one session can make a store hold. */
export const MAX_SESSION_STATE_BYTES = 16 * 1024;
export const MAX_SUBSCRIPTIONS = 256;
export const MAX_SUBSCRIPTION_URI_LENGTH = 2048;
export const DEFAULT_MAX_SESSION_STATES = 10_000;
const RECORD_VERSION = 1;

const SessionStateSchema = z.strictObject({
  logLevel: z.enum(LOG_LEVELS).optional(),
  subscriptions: z.array(z.string().min(1).max(MAX_SUBSCRIPTION_URI_LENGTH)).max(MAX_SUBSCRIPTIONS),
  ended: z.literal(true).optional(),
  holder: z.string().regex(HOLDER_PATTERN).optional(),
});

const RecordSchema = z.strictObject({
  v: z.literal(RECORD_VERSION),
  expiresAt: z.number().int().nonnegative(),
  state: SessionStateSchema,
});

export class SessionStateError extends CodedError<'too_large' | 'invalid_state' | 'invalid_key'> {}

export interface SessionStateStore {
  /** The session's state, or undefined when there is none, it expired, or the stored value was invalid (then it is removed). */
  get(sessionKey: string): Promise<SessionState | undefined>;
  /** Replaces the state; kept until `expiresAt` (epoch ms, the id's own expiry) unless evicted first. Throws SessionStateError on an invalid or oversized state. */
  put(sessionKey: string, state: SessionState, expiresAt: number): Promise<void>;
  delete(sessionKey: string): Promise<void>;
  close(): Promise<void>;
}

/** Refuses keys that are not a codec sessionKey: stores use them in file names and KV paths. */
export function checkSessionKey(sessionKey: string): void {
  if (!SESSION_KEY_PATTERN.test(sessionKey)) throw new SessionStateError('a session key is 22 characters of base64url', 'invalid_key');
}

/** The stored text of a state; throws SessionStateError if the state is invalid or over MAX_SESSION_STATE_BYTES. */
export function encodeSessionRecord(state: SessionState, expiresAt: number): string {
  const record = {
    v: RECORD_VERSION,
    expiresAt,
    state: {
      ...(state.logLevel !== undefined ? { logLevel: state.logLevel } : {}),
      subscriptions: [...state.subscriptions],
      ...(state.ended ? { ended: true } : {}),
      ...(state.holder !== undefined ? { holder: state.holder } : {}),
    },
  };
  const checked = RecordSchema.safeParse(record);
  if (!checked.success)
    throw new SessionStateError(
      `invalid session state at ${checked.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
      'invalid_state',
    );
  const text = JSON.stringify(record);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_SESSION_STATE_BYTES)
    throw new SessionStateError(`session state is ${bytes} bytes, over the ${MAX_SESSION_STATE_BYTES}-byte bound`, 'too_large');
  return text;
}

export type DecodedRecord =
  | { readonly kind: 'ok'; readonly state: SessionState; readonly expiresAt: number }
  | { readonly kind: 'expired' | 'invalid' };

/** A stored text, validated: a store holds what another process wrote. */
export function decodeSessionRecord(text: string, now: number): DecodedRecord {
  if (text.length > MAX_SESSION_STATE_BYTES * 2) return { kind: 'invalid' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'invalid' };
  }
  const r = RecordSchema.safeParse(raw);
  if (!r.success) return { kind: 'invalid' };
  if (now >= r.data.expiresAt) return { kind: 'expired' };
  return { kind: 'ok', state: r.data.state, expiresAt: r.data.expiresAt };
}

export interface MemorySessionStateStoreOptions {
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** One replica's store: what a single adapter needs to keep DELETE final and state across its own restarts of sessions. */
export class MemorySessionStateStore implements SessionStateStore {
  /** Map order is write order: the first entry is the oldest written. */
  private readonly entries = new Map<string, { readonly text: string; readonly expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  private nextSweepAt = 0;

  constructor(opts: MemorySessionStateStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_SESSION_STATES;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1)
      throw new SessionStateError('maxEntries must be a positive integer', 'invalid_state');
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  async get(sessionKey: string): Promise<SessionState | undefined> {
    checkSessionKey(sessionKey);
    const e = this.entries.get(sessionKey);
    if (e === undefined) return undefined;
    const d = decodeSessionRecord(e.text, this.now());
    if (d.kind !== 'ok') {
      this.entries.delete(sessionKey);
      return undefined;
    }
    return d.state;
  }

  async put(sessionKey: string, state: SessionState, expiresAt: number): Promise<void> {
    checkSessionKey(sessionKey);
    // Stored as text, as the shared stores do: what get() returns is a copy the caller cannot alter in place.
    const text = encodeSessionRecord(state, expiresAt);
    this.entries.delete(sessionKey);
    this.entries.set(sessionKey, { text, expiresAt });
    if (this.entries.size > this.maxEntries) this.evict();
  }

  async delete(sessionKey: string): Promise<void> {
    checkSessionKey(sessionKey);
    this.entries.delete(sessionKey);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private evict(): void {
    const now = this.now();
    // Expired entries go first, but scanning for them is O(n): at most once a second.
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + 1_000;
      for (const [k, e] of this.entries) if (now >= e.expiresAt) this.entries.delete(k);
    }
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(k);
    }
  }
}
