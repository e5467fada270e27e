// Which ready process takes a call that may go anywhere: the one with the
// fewest calls in flight below the per-process limit, scanning from a
// rotating start so that ties spread over the pool.
import type { PinnedSession } from './call.js';
import type { ExclusiveHolds } from './exclusive-holds.js';
import type { PoolWorker } from './pool-worker.js';
import type { ProcessSupervisor } from './process-supervisor.js';

export class LeastBusyPicker<W extends PoolWorker> {
  private next = 0;

  constructor(
    private readonly processes: ProcessSupervisor<W>,
    private readonly holds: ExclusiveHolds<PinnedSession>,
    private readonly maxInFlight: number,
    /** Whether a solo call (Placement) runs on the slot's process. */
    private readonly soloAt: (slot: number) => boolean = () => false,
  ) {}

  /** The process for a call of `session` (undefined: a stateless call); undefined when all are full. */
  pick(session: PinnedSession | undefined): W | undefined {
    const max = this.maxInFlight;
    const n = this.processes.size;
    let best: W | undefined;
    let bestLoad = Infinity;
    const start = this.next;
    this.next = this.next + 1 >= n ? 0 : this.next + 1;
    for (let k = 0; k < n; k++) {
      const slot = (start + k) % n;
      const w = this.processes.workerAt(slot);
      if (w === undefined || w.state !== 'ready') continue;
      let load = w.calls.size;
      if (load >= max) continue;
      // Keep foreign calls off a process whose server may be asking one
      // session's client something: its request must not look like theirs.
      const holder = this.holds.holder(slot);
      if ((holder !== undefined && holder !== session) || this.soloAt(slot)) load += max;
      if (load < bestLoad) {
        best = w;
        bestLoad = load;
        if (load === 0) break;
      }
    }
    return best;
  }

  /** A ready process with nothing in flight and no holder, for a solo call; undefined when none is. */
  pickIdle(): W | undefined {
    const n = this.processes.size;
    for (let k = 0; k < n; k++) {
      const w = this.processes.workerAt(k);
      if (w !== undefined && w.state === 'ready' && w.calls.size === 0 && this.holds.holder(k) === undefined && !this.soloAt(k)) return w;
    }
    return undefined;
  }
}
