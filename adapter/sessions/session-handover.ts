// Portable 2025-era sessions: what lets any replica of a server carry on a
// session another replica (or an earlier run of this one) issued.
//
// - `issue` seals a new session's id (session-id-codec.ts): the negotiated
//   protocol version, the client's capabilities and info travel in the id.
// - `adopt` opens an id this replica does not know, reads the session's
//   mutable state (logging level, subscriptions, ended) from the shared store
//   (session-state-store.ts), pins it to a slot with the pool's placement and
//   replays the state on that process. Concurrent requests of one unknown id
//   share one adoption.
// - `save` and `end` write the store when the state changes (setLevel,
//   subscribe, unsubscribe, DELETE), one write at a time per session, each
//   with the session's state as it is when the write runs.
//
// A session this replica knows is found by a map lookup (SessionTable) and
// never decrypted. Ids are never logged: an id is the session's bearer token.
import type { Logger } from '../../lib/log.js';
import { LOG_LEVELS, type LogLevel } from '../../lib/mesh-contracts.js';
import type { AdapterMetrics } from '../metrics.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import type { ProcessPool } from '../pool/process-pool.js';
import { isPlainObject } from '../protocol/jsonrpc-message.js';
import type { EventWindowStore } from './event-window-store.js';
import { abilitiesOf, type ClientStream, Session } from './session.js';
import { type ClientInfo, type OpenFailure, type SessionIdCodec, SessionIdError } from './session-id-codec.js';
import type { SessionKeeper } from './session-keeper.js';
import type { LimitRefusal, SessionLimiter, SessionOrigin } from './session-limits.js';
import type { SessionRecheck } from './session-recheck.js';
import { MAX_SUBSCRIPTION_URI_LENGTH, MAX_SUBSCRIPTIONS, type SessionState, type SessionStateStore } from './session-state-store.js';
import type { SessionTable } from './session-table.js';

/** Why an id gets 404: the codec's reasons, or the session was ended (DELETE) on some replica. */
export type RefusalReason = OpenFailure | 'ended';

export type Adoption =
  | { readonly kind: 'session'; readonly session: Session }
  | { readonly kind: 'refused'; readonly reason: RefusalReason }
  /** Nothing wrong with the id, but it cannot be taken over here now: 503, retryable elsewhere. */
  | { readonly kind: 'unavailable'; readonly detail: string; readonly reason: string }
  /** The client has as many sessions here as it may: 429, not retried elsewhere. */
  | { readonly kind: 'limited'; readonly refusal: LimitRefusal };

export type Issued =
  | { readonly kind: 'session'; readonly session: Session }
  | { readonly kind: 'invalid'; readonly message: string }
  | { readonly kind: 'unavailable'; readonly detail: string };

export interface SessionHandoverDeps {
  readonly codec: SessionIdCodec;
  readonly store: SessionStateStore;
  readonly sessions: SessionTable;
  readonly pool: ProcessPool<McpWorker, Session>;
  readonly keeper: SessionKeeper;
  readonly metrics: AdapterMetrics;
  readonly logger: Logger;
  /** Counts every session of the table by its client and source; the caller checks it before issue(). */
  readonly limiter: SessionLimiter;
  /** This replica's holder id, written with every state it stores (session-recheck.ts). */
  readonly holder?: string;
  /** Sessions to check with the store after a pause before they are served (absent: never). */
  readonly recheck?: Pick<SessionRecheck, 'needed' | 'check'>;
  /** Where the GET streams' replay windows are: a DELETE removes the session's. */
  readonly events?: EventWindowStore;
  /** The GET stream's replay window of a new or adopted session (http/event-replay.ts), when replay is on. */
  readonly replayFor?: (session: Session) => ClientStream | undefined;
}

const LEVELS: readonly string[] = LOG_LEVELS;

export class SessionHandover {
  private readonly adopting = new Map<string, Promise<Adoption>>();
  private readonly writes = new WeakMap<Session, Promise<void>>();

  constructor(private readonly deps: SessionHandoverDeps) {}

  /** A new session at `initialize`, pinned to `slot`, in the table, pending until its client follows up. Writes nothing to the store. */
  issue(slot: number, protocolVersion: string, capabilities: unknown, clientInfo: unknown, origin: SessionOrigin): Issued {
    const caps = isPlainObject(capabilities) ? capabilities : {};
    let sealed: ReturnType<SessionIdCodec['seal']>;
    try {
      sealed = this.deps.codec.seal({ protocolVersion, clientCapabilities: caps, clientInfo: clientInfoOf(clientInfo) });
    } catch (err) {
      if (err instanceof SessionIdError && err.code === 'no_signing_key')
        return { kind: 'unavailable', detail: 'no session key may sign now' };
      return { kind: 'invalid', message: (err as Error).message };
    }
    const session = new Session(sealed.id, slot, protocolVersion, abilitiesOf(caps), sealed.session);
    this.withReplay(session);
    this.deps.sessions.add(session);
    this.deps.limiter.admit(session, origin, true);
    return { kind: 'session', session };
  }

  /**
   * An id this replica does not know: taken over, or refused. Never rejects.
   * Concurrent requests of one id share the first one's adoption, and its origin.
   */
  adopt(id: string, via: 'post' | 'get', origin: SessionOrigin): Promise<Adoption> {
    let p = this.adopting.get(id);
    if (p === undefined) {
      p = this.takeOver(id, via, origin).catch((err: unknown): Adoption => {
        this.deps.logger.error({ err: (err as Error).message }, 'session adoption failed');
        return { kind: 'unavailable', detail: 'the session could not be taken over', reason: 'adoption_failed' };
      });
      const settled = p.finally(() => this.adopting.delete(id));
      void settled;
      this.adopting.set(id, p);
    }
    return p;
  }

  /**
   * DELETE of an id this replica does not know: the session ends wherever it
   * is (the tombstone makes every replica refuse it from then on).
   */
  async endUnknown(id: string): Promise<RefusalReason | undefined> {
    const opened = this.deps.codec.open(id);
    if (!opened.ok) return this.refused(opened.reason);
    const state = await this.deps.store.get(opened.session.sessionKey);
    if (state?.ended) return this.refused('ended');
    await this.deps.store.put(opened.session.sessionKey, { ...(state ?? { subscriptions: [] }), ended: true }, opened.session.expiresAt);
    this.discardWindow(opened.session.sessionKey);
    return undefined;
  }

  /** The ended session's replay window goes too; it would expire anyway, so a failure is only logged. */
  private discardWindow(sessionKey: string): void {
    this.deps.events?.discard(sessionKey).catch((err: unknown) => {
      this.deps.logger.warn(
        { err: (err as Error).message },
        "could not remove an ended session's replay window; it expires with its age bound",
      );
    });
  }

  /** The session's logging level or subscriptions changed: stored for the replica that may take it over next. */
  save(session: Session): Promise<void> {
    return this.write(session, false);
  }

  /** DELETE: the session may not be taken over again, and its replay window goes. */
  end(session: Session): Promise<void> {
    if (session.portable !== undefined) this.discardWindow(session.portable.sessionKey);
    return this.write(session, true);
  }

  private write(session: Session, ended: boolean): Promise<void> {
    const portable = session.portable;
    if (portable === undefined) return Promise.resolve();
    const previous = this.writes.get(session) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        await this.deps.store.put(portable.sessionKey, { ...this.stateOf(session), ...(ended ? { ended: true } : {}) }, portable.expiresAt);
      } catch (err) {
        this.deps.metrics.sessionLost('state_unavailable');
        this.deps.logger.warn(
          { err: (err as Error).message, ended },
          'could not store session state; another replica taking the session over would not have it',
        );
      }
    });
    this.writes.set(session, next);
    return next;
  }

  /** The state to store, with this replica as its holder. */
  private stateOf(session: Session): SessionState {
    const state = localStateOf(session);
    return this.deps.holder === undefined ? state : { ...state, holder: this.deps.holder };
  }

  private withReplay(session: Session): void {
    const replay = this.deps.replayFor?.(session);
    if (replay !== undefined) session.useReplay(replay);
  }

  private refused(reason: RefusalReason): RefusalReason {
    this.deps.metrics.sessionIdRefused(reason);
    // Never the id itself: it is the session's credential.
    this.deps.logger.info({ reason }, 'session id refused');
    return reason;
  }

  /**
   * A full replica is retryable elsewhere (the session moves, as when its
   * replica is gone); a client over its own limits is not (a retry would
   * spread it over the fleet).
   */
  private overLimit(origin: SessionOrigin): Adoption | undefined {
    const refusal = this.deps.limiter.check(origin);
    if (refusal === undefined) return undefined;
    if (refusal.reason === 'max_sessions')
      return { kind: 'unavailable', detail: `${refusal.limit} sessions are open`, reason: 'too_many_sessions' };
    return { kind: 'limited', refusal };
  }

  /** Whether a session this replica holds must be checked with the store first (after a pause); then the request goes through adopt(). */
  mustRecheck(session: Session): boolean {
    return this.deps.recheck?.needed(session) ?? false;
  }

  private async takeOver(id: string, via: 'post' | 'get', origin: SessionOrigin): Promise<Adoption> {
    const held = this.deps.sessions.get(id);
    if (held !== undefined && this.deps.recheck !== undefined) {
      // Kept: served as it is. Given up: adopted afresh below, with the store's state, or refused.
      if ((await this.deps.recheck.check(held)) === 'kept' && !held.closed) {
        this.deps.limiter.confirmed(held);
        return { kind: 'session', session: held };
      }
    }
    // The codec refuses a forged id before anything else is read.
    const opened = this.deps.codec.open(id);
    if (!opened.ok) return { kind: 'refused', reason: this.refused(opened.reason) };
    if (this.deps.pool.isDraining) return { kind: 'unavailable', detail: 'the adapter is draining', reason: 'unavailable' };
    const over = this.overLimit(origin);
    if (over !== undefined) return over;
    const p = opened.session;
    let state: SessionState | undefined;
    try {
      state = await this.deps.store.get(p.sessionKey);
    } catch (err) {
      this.deps.metrics.sessionLost('state_unavailable');
      this.deps.logger.warn({ err: (err as Error).message }, 'session state store unavailable; the session is not taken over');
      return { kind: 'unavailable', detail: 'the session state store is unavailable', reason: 'session_state_unavailable' };
    }
    if (state?.ended) return { kind: 'refused', reason: this.refused('ended') };
    // Another request may have brought it in while the store answered.
    const known = this.deps.sessions.get(id);
    if (known !== undefined) return { kind: 'session', session: known };
    const abilities = abilitiesOf(p.clientCapabilities);
    const slot = this.deps.pool.slotForSession(abilities.sampling || abilities.elicitation || abilities.roots);
    if (slot === undefined) return { kind: 'unavailable', detail: 'no server process is ready', reason: 'unavailable' };
    // Other adoptions may have filled the limits while the store answered.
    const overNow = this.overLimit(origin);
    if (overNow !== undefined) return overNow;
    const session = new Session(id, slot, p.protocolVersion, abilities, p);
    if (state?.logLevel !== undefined) session.setLogLevel(state.logLevel);
    for (const uri of state?.subscriptions ?? []) session.subscribe(uri);
    this.withReplay(session);
    this.deps.sessions.add(session);
    // A request brought it: not pending.
    this.deps.limiter.admit(session, origin, false);
    // The record names this replica as the session's holder, so that one that held it before and was paused gives it up.
    await Promise.all([this.deps.keeper.adopted(session), this.deps.holder !== undefined ? this.write(session, false) : undefined]);
    this.deps.metrics.sessionAdopted(via);
    this.deps.logger.info({ slot, version: p.protocolVersion, via, subscriptions: session.subscriptions.size }, 'session adopted');
    return { kind: 'session', session };
  }
}

/** What the store keeps of a session: only what its schema accepts (a level the server refused, or an outsized URI, stays local). */
function localStateOf(session: Session): SessionState {
  const level = session.logLevel;
  const subscriptions: string[] = [];
  for (const uri of session.subscriptions) {
    if (subscriptions.length >= MAX_SUBSCRIPTIONS) break;
    if (uri.length > 0 && uri.length <= MAX_SUBSCRIPTION_URI_LENGTH) subscriptions.push(uri);
  }
  return { ...(level !== undefined && LEVELS.includes(level) ? { logLevel: level as LogLevel } : {}), subscriptions };
}

function clientInfoOf(info: unknown): ClientInfo {
  if (isPlainObject(info) && typeof info['name'] === 'string' && typeof info['version'] === 'string') return info as ClientInfo;
  const name = isPlainObject(info) && typeof info['name'] === 'string' ? info['name'] : '';
  return { name, version: '' };
}
