// What an unauthenticated `initialize` may cost: the 2025-era sessions open on
// this replica are bounded in all (`maxSessions`), per client and per source
// address, and a session whose client never followed up (no
// `notifications/initialized`, nor any other request or stream naming it) is
// pending only until `initTimeoutMs`, then expired. A refusal is the client's
// own fault, or the replica's whole budget: answered 429, never retried on
// another replica (that would spread a flood over the fleet).
//
// Counting is O(1) per session; expiry walks only what expired (pending
// sessions are kept in the order they were issued, and all wait the same
// timeout).
import type { Session } from './session.js';

/** Who opens a session: the client (a verified identity, else its source) and its source address. */
export interface SessionOrigin {
  /** `id:<identity>` once a verified identity header is configured, else `addr:<source>`. */
  readonly client: string;
  /** The source address (an IPv6 source by its /64). */
  readonly source: string;
}

export type LimitReason = 'max_sessions' | 'client_limit' | 'source_limit';

export interface LimitRefusal {
  readonly reason: LimitReason;
  readonly limit: number;
  /** When a slot of this client may be free again: its oldest pending session's expiry, else a minute. */
  readonly retryAfterSeconds: number;
  /** Why, for the client (never names the client). */
  readonly message: string;
}

export interface SessionLimitOptions {
  readonly maxSessions: number;
  readonly perClient: number;
  readonly perSource: number;
  readonly initTimeoutMs: number;
  readonly now?: () => number;
}

/** When no pending session of the client will expire soon, the client is told to come back in this long. */
const RETRY_AFTER_OPEN_S = 60;

interface Counted {
  readonly origin: SessionOrigin;
  /** Expiry while pending (no follow-up yet). */
  deadline: number | undefined;
}

export class SessionLimiter {
  private readonly counted = new Map<Session, Counted>();
  /** Pending sessions, oldest first (same timeout for all: deadlines ascend). */
  private readonly pending = new Map<Session, number>();
  private readonly byClient = new Map<string, number>();
  private readonly bySource = new Map<string, number>();
  /** Pending sessions per client and per source, oldest first: Retry-After without a scan. */
  private readonly pendingByClient = new Map<string, Map<Session, number>>();
  private readonly pendingBySource = new Map<string, Map<Session, number>>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionLimitOptions) {
    for (const k of ['maxSessions', 'perClient', 'perSource', 'initTimeoutMs'] as const) {
      if (!Number.isSafeInteger(opts[k]) || opts[k] < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.counted.size;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Sessions counted for a client or a source now (tests, debugging). */
  countOf(origin: SessionOrigin): { client: number; source: number } {
    return { client: this.byClient.get(origin.client) ?? 0, source: this.bySource.get(origin.source) ?? 0 };
  }

  /** Whether one more session of `origin` fits; undefined when it does. Changes nothing. */
  check(origin: SessionOrigin): LimitRefusal | undefined {
    const client = this.byClient.get(origin.client) ?? 0;
    if (client >= this.opts.perClient) {
      return this.refusal(
        'client_limit',
        this.opts.perClient,
        origin,
        `this client has ${client} sessions open on this replica, the most --max-sessions-per-client allows`,
      );
    }
    const source = this.bySource.get(origin.source) ?? 0;
    if (source >= this.opts.perSource) {
      return this.refusal(
        'source_limit',
        this.opts.perSource,
        origin,
        `this client's source address has ${source} sessions open on this replica, the most --max-sessions-per-source allows`,
      );
    }
    if (this.counted.size >= this.opts.maxSessions) {
      return this.refusal(
        'max_sessions',
        this.opts.maxSessions,
        origin,
        `this replica has ${this.counted.size} sessions open, the most --max-sessions allows`,
      );
    }
    return undefined;
  }

  /** Counts a session: `pending` for a new one (initialize), not for one a follow-up request brought (adoption). */
  admit(session: Session, origin: SessionOrigin, pending: boolean): void {
    if (this.counted.has(session)) return;
    const deadline = pending ? this.now() + this.opts.initTimeoutMs : undefined;
    this.counted.set(session, { origin, deadline });
    if (deadline !== undefined) {
      this.pending.set(session, deadline);
      add(this.pendingByClient, origin.client, session, deadline);
      add(this.pendingBySource, origin.source, session, deadline);
    }
    this.byClient.set(origin.client, (this.byClient.get(origin.client) ?? 0) + 1);
    this.bySource.set(origin.source, (this.bySource.get(origin.source) ?? 0) + 1);
  }

  /** The client followed up (notifications/initialized, or any request or stream of the session): no longer pending. */
  confirmed(session: Session): void {
    const c = this.counted.get(session);
    if (c === undefined || c.deadline === undefined) return;
    c.deadline = undefined;
    this.unpend(session, c.origin);
  }

  isPending(session: Session): boolean {
    return this.pending.has(session);
  }

  /** The session is gone from this replica (DELETE, idle, expired, shutdown). */
  release(session: Session): void {
    const c = this.counted.get(session);
    if (c === undefined) return;
    this.counted.delete(session);
    this.unpend(session, c.origin);
    decrement(this.byClient, c.origin.client);
    decrement(this.bySource, c.origin.source);
  }

  /** Pending sessions past their deadline, oldest first; the caller closes them (which releases them). */
  expired(now = this.now()): Session[] {
    const out: Session[] = [];
    for (const [s, deadline] of this.pending) {
      if (deadline > now) break;
      out.push(s);
    }
    return out;
  }

  private unpend(session: Session, origin: SessionOrigin): void {
    if (!this.pending.delete(session)) return;
    remove(this.pendingByClient, origin.client, session);
    remove(this.pendingBySource, origin.source, session);
  }

  private refusal(reason: LimitReason, limit: number, origin: SessionOrigin, why: string): LimitRefusal {
    const retryAfterSeconds = this.retryAfter(reason === 'max_sessions' ? undefined : origin, reason);
    return {
      reason,
      limit,
      retryAfterSeconds,
      message:
        `Too many sessions: ${why}. A session that never sends notifications/initialized expires after ${Math.ceil(this.opts.initTimeoutMs / 1000)} s; ` +
        `end sessions you no longer use (DELETE). Not retried on another replica: retry after ${retryAfterSeconds} s`,
    };
  }

  /** Seconds until the oldest pending session that counts against the limit expires. */
  private retryAfter(origin: SessionOrigin | undefined, reason: LimitReason): number {
    const queue =
      origin === undefined
        ? this.pending
        : reason === 'client_limit'
          ? this.pendingByClient.get(origin.client)
          : this.pendingBySource.get(origin.source);
    const first = queue?.values().next();
    if (first === undefined || first.done === true) return RETRY_AFTER_OPEN_S;
    return Math.max(1, Math.ceil((first.value - this.now()) / 1000));
  }
}

function add(m: Map<string, Map<Session, number>>, k: string, s: Session, deadline: number): void {
  let q = m.get(k);
  if (q === undefined) {
    q = new Map();
    m.set(k, q);
  }
  q.set(s, deadline);
}

function remove(m: Map<string, Map<Session, number>>, k: string, s: Session): void {
  const q = m.get(k);
  if (q === undefined) return;
  q.delete(s);
  if (q.size === 0) m.delete(k);
}

function decrement(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 0) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
