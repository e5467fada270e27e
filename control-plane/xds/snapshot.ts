// A snapshot: per type, every resource Envoy should hold, each with a content
// hash for its version. Equal resources give equal versions, so a restarted
// control plane does not churn connected Envoys.
import { createHash } from 'node:crypto';
import type { EncodedResource, EncodedResources } from './api/envoy-protos.js';
import type { TypeUrl } from './api/type-urls.js';

export interface SnapshotResource extends EncodedResource {
  /** sha256 of the encoded resource, base64url, 16 chars. */
  readonly version: string;
}

export interface ResourceSet {
  /** Hash over the (name, version) pairs: the SotW version_info of the full set. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, SnapshotResource>;
}

export type Snapshot = ReadonlyMap<TypeUrl, ResourceSet>;

function hash(parts: Iterable<Uint8Array | string>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('base64url').slice(0, 16);
}

export function resourceSet(list: readonly SnapshotResource[]): ResourceSet {
  const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // One string, one digest update: a thousand resources cost 4000 calls otherwise.
  const version = hash([sorted.map((r) => `${r.name}\0${r.version}\0`).join('')]);
  return { version, resources: new Map(sorted.map((r) => [r.name, r])) };
}

/**
 * Turns each build's encoded resources into a snapshot. Streams and encoders
 * compare by identity, so what did not change is handed out again as the same
 * object: an encoded resource seen before keeps its versioned resource (no
 * rehash), and a set holding the same resources as before is the previous set.
 */
export class SnapshotVersioner {
  private readonly versioned = new WeakMap<EncodedResource, SnapshotResource>();
  private previousSets = new Map<TypeUrl, ResourceSet>();

  version(resources: EncodedResources): Snapshot {
    const snapshot = new Map<TypeUrl, ResourceSet>();
    for (const [type, list] of resources)
      snapshot.set(
        type,
        this.set(
          type,
          list.map((r) => this.resource(r)),
        ),
      );
    this.previousSets = snapshot;
    return snapshot;
  }

  private resource(encoded: EncodedResource): SnapshotResource {
    let r = this.versioned.get(encoded);
    if (!r) {
      r = { name: encoded.name, version: hash([encoded.any.value]), any: encoded.any };
      this.versioned.set(encoded, r);
    }
    return r;
  }

  private set(type: TypeUrl, list: readonly SnapshotResource[]): ResourceSet {
    const prev = this.previousSets.get(type);
    if (prev && prev.resources.size === list.length && list.every((r) => prev.resources.get(r.name)?.version === r.version)) return prev;
    return resourceSet(list);
  }
}

/** Per type, the names whose version differs between two snapshots (added, changed or removed). */
export function diffSnapshots(before: Snapshot | undefined, after: Snapshot): Map<TypeUrl, Set<string>> {
  const out = new Map<TypeUrl, Set<string>>();
  for (const [type, set] of after) {
    const old = before?.get(type);
    const names = new Set<string>();
    if (old?.version !== set.version) {
      for (const [name, r] of set.resources) if (old?.resources.get(name)?.version !== r.version) names.add(name);
      for (const name of old?.resources.keys() ?? []) if (!set.resources.has(name)) names.add(name);
    }
    out.set(type, names);
  }
  return out;
}
