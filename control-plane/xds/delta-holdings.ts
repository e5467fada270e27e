import type { SnapshotResource } from './snapshot.js';

/**
 * What a delta client holds of one type: a snapshot's resources it is known to
 * hold in full, plus the names where it differs. A thousand Envoys in sync cost a reference each,
 * not a thousand copies of every name and version.
 */
export class Holdings {
  private base: ReadonlyMap<string, SnapshotResource> | undefined;
  private overrides = new Map<string, string | null>();

  get(name: string): string | undefined {
    const o = this.overrides.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.base?.get(name)?.version;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  set(name: string, version: string): void {
    this.overrides.set(name, version);
  }
  delete(name: string): void {
    if (this.base?.has(name) || this.overrides.has(name)) this.overrides.set(name, null);
  }
  *keys(): Iterable<string> {
    for (const name of this.base?.keys() ?? []) if (this.overrides.get(name) !== null) yield name;
    for (const [name, v] of this.overrides) if (v !== null && !this.base?.has(name)) yield name;
  }
  /** The client now holds exactly `resources` (for every name it subscribes to). */
  rebase(resources: ReadonlyMap<string, SnapshotResource>): void {
    this.base = resources;
    this.overrides = new Map();
  }
  /** Cheap while in sync: the base is shared, the differences are few. */
  clone(): Holdings {
    const copy = new Holdings();
    copy.base = this.base;
    copy.overrides = new Map(this.overrides);
    return copy;
  }
  /** Takes `name` back to what `from` says the client held. */
  restore(name: string, from: Holdings): void {
    const version = from.get(name);
    if (version === undefined) this.delete(name);
    else this.set(name, version);
  }
}
