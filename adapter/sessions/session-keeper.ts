// The lifecycle of 2025-era sessions around their pinned process: ending a
// session (DELETE, idle expiry, no follow-up to initialize within the init
// timeout, shutdown) releases what it held on the process and its count
// against the session limits, and a restarted process gets back the subscriptions and logging
// level of the sessions pinned to its slot.
import type { Logger } from '../../lib/log.js';
import { LOG_LEVELS } from '../../lib/mesh-contracts.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import type { ProcessPool } from '../pool/process-pool.js';
import type { ServerMessageRouter } from './server-message-router.js';
import type { Session } from './session.js';
import type { SessionLimiter } from './session-limits.js';
import type { SessionTable } from './session-table.js';

/** Most verbose first: the process gets the most verbose level any session asked for. */
const LEVELS: readonly string[] = LOG_LEVELS;

export interface SessionKeeperDeps {
  readonly sessions: SessionTable;
  readonly pool: ProcessPool<McpWorker, Session>;
  readonly router: ServerMessageRouter;
  readonly logger: Logger;
  readonly idleMs: number;
  readonly requestTimeoutMs: number;
  readonly limiter: SessionLimiter;
  /** How often sessions pending past the init timeout are expired. */
  readonly pendingSweepMs: number;
  /** Counts sessions expired because their client never followed up on initialize. */
  readonly expired?: (n: number) => void;
  /** Whether a subscriptions/listen stream holds the URI on every process (then no session's end unsubscribes it). */
  readonly listened?: (uri: string) => boolean;
}

export class SessionKeeper {
  private sweeper: NodeJS.Timeout | undefined;
  private pendingSweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: SessionKeeperDeps) {}

  startSweeping(): void {
    const every = Math.max(1_000, Math.min(60_000, this.deps.idleMs / 4));
    this.sweeper = setInterval(() => {
      for (const s of this.deps.sessions.idle(Date.now(), this.deps.idleMs)) {
        // The id is not logged: it is the session's bearer credential.
        this.deps.logger.info({ slot: s.slot }, 'session idle too long; closed here (another request with its id adopts it again)');
        this.close(s);
      }
    }, every);
    this.sweeper.unref();
    this.pendingSweeper = setInterval(() => this.expirePending(), this.deps.pendingSweepMs);
    this.pendingSweeper.unref();
  }

  /** Closes the sessions whose client sent nothing after initialize within the init timeout. */
  expirePending(now?: number): number {
    const expired = this.deps.limiter.expired(now);
    for (const s of expired) this.close(s);
    if (expired.length > 0) {
      this.deps.expired?.(expired.length);
      // One line per sweep, not per session: a flood would flood the log too.
      this.deps.logger.info({ sessions: expired.length }, 'sessions without notifications/initialized within the init timeout expired');
    }
    return expired.length;
  }

  stop(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    if (this.pendingSweeper !== undefined) clearInterval(this.pendingSweeper);
  }

  /** Whether another session on the same slot still needs this subscription. */
  sharedSubscription(session: Session, uri: string): boolean {
    if (this.deps.listened?.(uri) === true) return true;
    for (const s of this.deps.sessions.pinnedTo(session.slot)) if (s !== session && s.subscriptions.has(uri)) return true;
    return false;
  }

  close(session: Session): void {
    if (session.closed) return;
    session.end();
    this.deps.sessions.delete(session);
    this.deps.limiter.release(session);
    this.deps.router.sessionClosed(session);
    const worker = this.deps.pool.workerOf(session.slot);
    if (worker === undefined) return;
    for (const uri of session.subscriptions) {
      if (this.sharedSubscription(session, uri)) continue;
      this.internal(worker, 'resources/unsubscribe', { uri });
    }
  }

  closeAll(): void {
    for (const s of [...this.deps.sessions.all()]) this.close(s);
  }

  /** A (re)started process: subscriptions and logging level of its sessions. */
  replay(worker: McpWorker): void {
    const uris = new Set<string>();
    for (const s of this.deps.sessions.pinnedTo(worker.slot)) for (const u of s.subscriptions) uris.add(u);
    const level = this.levelOf(worker.slot);
    if (level !== undefined) void this.internal(worker, 'logging/setLevel', { level });
    for (const uri of uris) void this.internal(worker, 'resources/subscribe', { uri });
  }

  /**
   * A session taken over from another replica, already in the table: its
   * process gets the subscriptions no other session there holds, and the
   * slot's logging level. Resolves once the process answered (or failed to),
   * so that the call that brought the session runs after them. A process not
   * ready yet gets them from replay() when it is.
   */
  async adopted(session: Session): Promise<void> {
    const worker = this.deps.pool.workerOf(session.slot);
    if (worker === undefined) return;
    const jobs: Promise<void>[] = [];
    if (session.logLevel !== undefined) {
      const level = this.levelOf(session.slot);
      if (level !== undefined) jobs.push(this.internal(worker, 'logging/setLevel', { level }));
    }
    for (const uri of session.subscriptions)
      if (!this.sharedSubscription(session, uri)) jobs.push(this.internal(worker, 'resources/subscribe', { uri }));
    await Promise.all(jobs);
  }

  /** The most verbose level any session pinned to the slot asked for. */
  private levelOf(slot: number): string | undefined {
    let level: string | undefined;
    for (const s of this.deps.sessions.pinnedTo(slot)) {
      if (s.logLevel !== undefined && (level === undefined || LEVELS.indexOf(s.logLevel) < LEVELS.indexOf(level))) level = s.logLevel;
    }
    return level;
  }

  /** Never rejects: a failure is logged, and the session goes on without that piece of state. */
  private internal(worker: McpWorker, method: string, params: Record<string, unknown>): Promise<void> {
    return worker.request(method, params, this.deps.requestTimeoutMs).then(
      (res) => {
        if (res.error !== undefined) this.deps.logger.warn({ method, params, error: res.error.message }, 'server refused session state');
      },
      (err: unknown) => this.deps.logger.warn({ method, params, err: (err as Error).message }, 'could not restore session state'),
    );
  }
}
