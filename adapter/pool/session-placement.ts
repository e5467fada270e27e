// Where 2025-era sessions go: the slot a new session is pinned to, and the
// process a call bound to its session's slot may run on now.
import type { PinnedSession } from './call.js';
import type { ExclusiveHolds } from './exclusive-holds.js';
import type { PoolWorker } from './pool-worker.js';
import type { ProcessSupervisor } from './process-supervisor.js';

export interface PlacementDeps {
  /** Sessions pinned to a slot, and how many of them answer server requests. */
  pinned(slot: number): { readonly all: number; readonly answering: number };
}

export class SessionPlacement<W extends PoolWorker, S extends PinnedSession> {
  constructor(
    private readonly processes: ProcessSupervisor<W>,
    private readonly holds: ExclusiveHolds<S>,
    private readonly maxInFlight: number,
    private readonly deps: PlacementDeps,
  ) {}

  /**
   * The slot a new session is pinned to: the one with the fewest sessions; a
   * session whose client answers server requests prefers a slot without such
   * sessions, and gets a new slot when all have one and the pool may grow.
   */
  slotForSession(answering: boolean): number | undefined {
    let best: number | undefined;
    let bestScore = Infinity;
    for (let slot = 0; slot < this.processes.size; slot++) {
      const state = this.processes.stateOf(slot);
      if (state !== 'ready' && state !== 'starting') continue;
      const p = this.deps.pinned(slot);
      const score = answering ? p.answering * 1_000_000 + p.all : p.all;
      if (score < bestScore) {
        best = slot;
        bestScore = score;
      }
    }
    if (best === undefined) return undefined;
    if (answering && this.deps.pinned(best).answering > 0) {
      const spare = this.processes.startSpare();
      if (spare !== undefined) return spare;
    }
    return best;
  }

  /**
   * The session's own process if it can take the call now: ready, below the
   * per-process limit, and for an exclusive call not held by another session.
   */
  pinnedWorker(session: S, exclusive: boolean): W | undefined {
    const w = this.processes.workerAt(session.slot);
    if (w === undefined || w.state !== 'ready' || w.calls.size >= this.maxInFlight) return undefined;
    if (exclusive) {
      const holder = this.holds.holder(session.slot);
      if (holder !== undefined && holder !== session) return undefined;
    }
    return w;
  }
}
