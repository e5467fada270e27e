// The snapshot the streams serve, and its generation.
import type { TypeUrl } from './api/type-urls.js';
import { diffSnapshots, type Snapshot } from './snapshot.js';

export class SnapshotCache {
  private snapshot: Snapshot | undefined;
  private generation = 0;

  /** Serves `snapshot` from now on and says, per type, which names changed. */
  set(snapshot: Snapshot): Map<TypeUrl, Set<string>> {
    const changed = diffSnapshots(this.snapshot, snapshot);
    this.snapshot = snapshot;
    this.generation += 1;
    return changed;
  }

  current(): Snapshot | undefined {
    return this.snapshot;
  }

  /** Counts the snapshots served; a stream converges on one generation at a time. */
  currentGeneration(): number {
    return this.generation;
  }
}
