// Subscriptions as shared, immutable sets. A thousand Envoys subscribe to the
// same thousand cluster names; held per stream, every decoded request keeps its
// own copy of each name and a table to look them up: at 1000 servers × 1000
// clients that was 36 MB of name strings and 25 MB of set tables, most of the
// control plane's heap. Streams with equal subscriptions now share one set.
export class NameSets {
  private readonly pool = new Map<string, WeakRef<ReadonlySet<string>>>();
  /** A set no stream holds any more leaves the pool with its last holder. */
  private readonly registry = new FinalizationRegistry<string>((key) => {
    if (this.pool.get(key)?.deref() === undefined) this.pool.delete(key);
  });

  /** The shared set of these names (in this order; a different order is a different set, still correct). */
  intern(names: Iterable<string>): ReadonlySet<string> {
    const set = names instanceof Set ? (names as Set<string>) : new Set(names);
    const key = [...set].join('\0');
    const hit = this.pool.get(key)?.deref();
    if (hit) return hit;
    this.pool.set(key, new WeakRef(set));
    this.registry.register(set, key);
    return set;
  }

  /** Distinct sets alive (tests, metrics). */
  get size(): number {
    return this.pool.size;
  }
}
