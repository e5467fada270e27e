// Session state in Consul KV, for replicas on several hosts:
// `mcpmesh/sessions/<server>/<sessionKey>` holds the record as JSON.
//
// Consul KV has no expiry of its own (its sessions' TTLs would mean one Consul
// session per entry), so the bound is kept here: after every `sweepEvery`
// writes of this process (or `sweepIntervalMs` after a write) the keys are
// counted (`?keys`, names only); only above maxEntries are the values read, to
// delete the expired and then the earliest-expiring entries down to 90% of it,
// in transactions of at most 64 operations (Consul's limit). Expired entries
// below the bound are removed as they are read.

import type { ConsulHttp } from '../../lib/consul/consul-http.js';
import { SERVER_NAME, SERVER_NAME_RULE, SESSION_STATE_KV_PREFIX } from '../../lib/mesh-contracts.js';
import {
  checkSessionKey,
  decodeSessionRecord,
  encodeSessionRecord,
  type SessionState,
  SessionStateError,
  type SessionStateStore,
} from './session-state-store.js';
import { SweepSchedule } from './sweep-schedule.js';

const TXN_MAX_OPS = 64;

export interface ConsulSessionStateStoreOptions {
  readonly http: Pick<ConsulHttp, 'request'>;
  readonly server: string;
  /** Lower than the directory store's: every entry is replicated by Consul's servers. */
  readonly maxEntries?: number;
  readonly sweepEvery?: number;
  readonly sweepIntervalMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly onError?: (message: string) => void;
}

interface KvEntry {
  readonly Key: string;
  readonly Value?: string | null;
}

export class ConsulSessionStateStore implements SessionStateStore {
  private readonly prefix: string;
  private readonly maxEntries: number;
  private readonly sweeps: SweepSchedule;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: ConsulSessionStateStoreOptions) {
    if (!SERVER_NAME.test(opts.server)) throw new SessionStateError(SERVER_NAME_RULE, 'invalid_key');
    this.prefix = `${SESSION_STATE_KV_PREFIX}${opts.server}/`;
    this.sweeps = new SweepSchedule(() => this.sweepOnce(), {
      every: opts.sweepEvery ?? 64,
      intervalMs: opts.sweepIntervalMs ?? 60_000,
      what: this.prefix,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    this.maxEntries = opts.maxEntries ?? 5_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1)
      throw new SessionStateError('maxEntries must be a positive integer', 'invalid_state');
    this.now = opts.now ?? Date.now;
  }

  async get(sessionKey: string): Promise<SessionState | undefined> {
    checkSessionKey(sessionKey);
    const res = await this.opts.http.request<KvEntry[]>('GET', this.kvPath(sessionKey), {
      endpoint: 'kv_session_state_get',
      timeoutMs: this.timeoutMs,
      notFoundAs: [],
    });
    const value = Array.isArray(res.body) ? res.body[0]?.Value : undefined;
    if (typeof value !== 'string') return undefined;
    const d = decodeSessionRecord(Buffer.from(value, 'base64').toString('utf8'), this.now());
    if (d.kind === 'ok') return d.state;
    await this.delete(sessionKey).catch(() => undefined);
    return undefined;
  }

  async put(sessionKey: string, state: SessionState, expiresAt: number): Promise<void> {
    checkSessionKey(sessionKey);
    // Checked and bounded here; the client below serializes the same object again.
    const text = encodeSessionRecord(state, expiresAt);
    await this.opts.http.request<boolean>('PUT', this.kvPath(sessionKey), {
      body: JSON.parse(text) as unknown,
      endpoint: 'kv_session_state_put',
      timeoutMs: this.timeoutMs,
    });
    this.sweeps.wrote();
  }

  async delete(sessionKey: string): Promise<void> {
    checkSessionKey(sessionKey);
    await this.opts.http.request<boolean>('DELETE', this.kvPath(sessionKey), {
      endpoint: 'kv_session_state_delete',
      timeoutMs: this.timeoutMs,
    });
  }

  close(): Promise<void> {
    return this.sweeps.close();
  }

  /** Counts the entries and, above the bound, trims them. Runs one at a time. */
  sweep(): Promise<void> {
    return this.sweeps.run();
  }

  private async sweepOnce(): Promise<void> {
    const keys = await this.opts.http.request<string[]>('GET', `/v1/kv/${this.prefix}`, {
      query: { keys: '' },
      endpoint: 'kv_session_state_keys',
      timeoutMs: this.timeoutMs,
      notFoundAs: [],
    });
    if (!Array.isArray(keys.body) || keys.body.length <= this.maxEntries) return;
    const all = await this.opts.http.request<KvEntry[]>('GET', `/v1/kv/${this.prefix}`, {
      query: { recurse: '' },
      endpoint: 'kv_session_state_list',
      timeoutMs: this.timeoutMs * 4,
      notFoundAs: [],
    });
    const now = this.now();
    const doomed: string[] = [];
    const live: { key: string; expiresAt: number }[] = [];
    for (const e of Array.isArray(all.body) ? all.body : []) {
      if (typeof e.Key !== 'string' || !e.Key.startsWith(this.prefix)) continue;
      const d =
        typeof e.Value === 'string'
          ? decodeSessionRecord(Buffer.from(e.Value, 'base64').toString('utf8'), now)
          : ({ kind: 'invalid' } as const);
      if (d.kind === 'ok') live.push({ key: e.Key, expiresAt: d.expiresAt });
      else doomed.push(e.Key);
    }
    const target = Math.floor(this.maxEntries * 0.9);
    if (live.length > target) {
      live.sort((a, b) => a.expiresAt - b.expiresAt);
      for (const e of live.slice(0, live.length - target)) doomed.push(e.key);
    }
    for (let i = 0; i < doomed.length; i += TXN_MAX_OPS) {
      const ops = doomed.slice(i, i + TXN_MAX_OPS).map((Key) => ({ KV: { Verb: 'delete', Key } }));
      await this.opts.http.request<unknown>('PUT', '/v1/txn', { body: ops, endpoint: 'kv_session_state_evict', timeoutMs: this.timeoutMs });
    }
  }

  private kvPath(sessionKey: string): string {
    return `/v1/kv/${this.prefix}${sessionKey}`;
  }
}
