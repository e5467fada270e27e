// After a pause (pause-watch.ts), the sessions this replica holds may have
// moved: Envoy sent their requests to another replica, which adopted them and
// may have changed their state (logging level, subscriptions) or ended them.
// Serving them from the copy held here would use that stale state, and the GET
// stream still open here would keep a client listening to the wrong replica.
//
// So a pause makes every held session suspect. A suspect session is checked
// against the shared store before it is served again (the request that names
// it waits for the check), and all of them are checked in the background with
// a bounded concurrency, so that streams of sessions that moved end soon:
//  - the store says another replica took the session over since this one
//    (its record's `holder` is another replica's) or that it ended: the session
//    is given up here like an idle one (stream ended, subscriptions released on
//    the process); the request, if any, then adopts it afresh with the state in
//    the store, or is refused if it ended;
//  - otherwise it was not moved, and it is kept as it is.
// A record's holder is the replica that last took the session over or changed
// its state (session-handover.ts writes it), so the last one to touch it wins.
import type { Logger } from '../../lib/log.js';
import { PauseWatch } from './pause-watch.js';
import type { Session } from './session.js';
import type { SessionKeeper } from './session-keeper.js';
import type { SessionStateStore } from './session-state-store.js';
import type { SessionTable } from './session-table.js';

export type RecheckVerdict = 'kept' | 'moved' | 'ended' | 'unverified';

export interface SessionRecheckDeps {
  readonly sessions: SessionTable;
  readonly store: SessionStateStore;
  readonly keeper: Pick<SessionKeeper, 'close'>;
  /** This replica's holder id, as it writes it into the records of the sessions it takes or changes. */
  readonly holder: string;
  readonly logger: Logger;
  /** A suspect session given up, by why. */
  readonly released: (reason: Exclude<RecheckVerdict, 'kept'>) => void;
  /** Background checks at once (default 8). */
  readonly concurrency?: number;
  /**
   * Looks at the clock for a pause not noticed yet (PauseWatch.check), which
   * calls paused(): requests queued during a pause run before its timer.
   */
  readonly lookForPause?: () => void;
}

export class SessionRecheck {
  private readonly suspects = new Set<Session>();
  private readonly running = new Map<Session, Promise<RecheckVerdict>>();

  constructor(private readonly deps: SessionRecheckDeps) {}

  /** How many sessions wait for their check (tests, logs). */
  get pending(): number {
    return this.suspects.size;
  }

  /** Whether the session must be checked before it is served. One set lookup; false outside a pause's aftermath. */
  needed(session: Session): boolean {
    this.deps.lookForPause?.();
    return this.suspects.size > 0 && this.suspects.has(session);
  }

  /** The adapter was paused for `gapMs`: every held session is suspect, and checked in the background. */
  paused(gapMs: number): Promise<void> {
    const held = [...this.deps.sessions.all()];
    for (const s of held) this.suspects.add(s);
    this.deps.logger.warn(
      { pausedMs: Math.round(gapMs), sessions: held.length },
      'this adapter was paused; its sessions are checked with the shared store before they are served again',
    );
    return this.checkAll(held);
  }

  /** Checks a suspect session once (concurrent callers share the check); 'kept' for one that is not suspect. */
  check(session: Session): Promise<RecheckVerdict> {
    if (!this.suspects.has(session)) return Promise.resolve('kept');
    let p = this.running.get(session);
    if (p === undefined) {
      p = this.run(session).finally(() => this.running.delete(session));
      this.running.set(session, p);
    }
    return p;
  }

  private async checkAll(held: readonly Session[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < held.length) await this.check(held[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.concurrency ?? 8, held.length) }, worker));
  }

  private async run(session: Session): Promise<RecheckVerdict> {
    const portable = session.portable;
    let verdict: RecheckVerdict = 'kept';
    if (portable !== undefined && !session.closed) {
      try {
        const state = await this.deps.store.get(portable.sessionKey);
        if (state?.ended) verdict = 'ended';
        else if (state?.holder !== undefined && state.holder !== this.deps.holder) verdict = 'moved';
      } catch (err) {
        // Not knowing is not serving stale state: given up, the next request adopts it when the store answers.
        this.deps.logger.warn({ err: (err as Error).message }, 'session state store unavailable while checking a session after a pause');
        verdict = 'unverified';
      }
    }
    this.suspects.delete(session);
    if (verdict === 'kept' || session.closed) return verdict;
    this.deps.keeper.close(session);
    this.deps.released(verdict);
    // Never the id: it is the session's credential.
    this.deps.logger.info(
      { slot: session.slot, reason: verdict },
      'session given up after a pause: it moved on while this adapter was paused',
    );
    return verdict;
  }
}

/** A recheck driven by a pause watch: the watch's looks on the request path go through `needed`. */
export function recheckAfterPauses(
  deps: Omit<SessionRecheckDeps, 'lookForPause'>,
  thresholdMs: number,
): { readonly recheck: SessionRecheck; readonly watch: PauseWatch } {
  const watch: PauseWatch = new PauseWatch({ thresholdMs, onPause: (gapMs) => void recheck.paused(gapMs) });
  const recheck: SessionRecheck = new SessionRecheck({ ...deps, lookForPause: () => watch.check() });
  return { recheck, watch };
}
