// The snapshot the streams serve, and its generation. Only a consistent
// snapshot gets in: whoever installs one, a snapshot that does not hold
// together never reaches a stream, and the one before stays in force.
import type { TypeUrl } from './api/type-urls.js';
import { diffSnapshots, type Snapshot } from './snapshot.js';
import { assertConsistent } from './snapshot-consistency.js';

export class SnapshotCache {
  private snapshot: Snapshot | undefined;
  private generation = 0;

  /**
   * Serves `snapshot` from now on and says, per type, which names changed.
   * Throws an InconsistentSnapshotError, and keeps the current one, for a
   * snapshot that does not hold together.
   */
  set(snapshot: Snapshot): Map<TypeUrl, Set<string>> {
    assertConsistent(snapshot);
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
