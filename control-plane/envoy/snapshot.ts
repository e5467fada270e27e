// Catalog → a complete, immutable xDS snapshot: every resource encoded once
// into an Any, each with a content-hash version. Equal catalogs give equal
// versions, so a restarted control plane does not churn connected Envoys.
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/model.js';
import { packAny, TYPE, type PackedAny, type TypeUrl } from '../xds/envoy-protos.js';
import { buildCluster, clusterName } from './clusters.js';
import { buildLoadAssignment } from './endpoints.js';
import { buildListener, type ListenerOptions } from './listener.js';
import { buildRouteConfiguration } from './routes.js';

export interface SnapshotResource {
  readonly name: string;
  /** sha256 of the encoded resource, base64url, 16 chars. */
  readonly version: string;
  readonly any: PackedAny;
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

function resource(typeUrl: TypeUrl, name: string, body: object): SnapshotResource {
  const any = packAny(typeUrl, body);
  return { name, version: hash([any.value]), any };
}

export function resourceSet(list: readonly SnapshotResource[]): ResourceSet {
  const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const version = hash(sorted.flatMap((r) => [r.name, '\0', r.version, '\0']));
  return { version, resources: new Map(sorted.map((r) => [r.name, r])) };
}

export function buildSnapshot(catalog: Catalog, listener: ListenerOptions): Snapshot {
  return new Map<TypeUrl, ResourceSet>([
    [TYPE.cluster, resourceSet(catalog.servers.map((s) => resource(TYPE.cluster, clusterName(s.name), buildCluster(s))))],
    [
      TYPE.endpoints,
      resourceSet(catalog.servers.map((s) => resource(TYPE.endpoints, clusterName(s.name), buildLoadAssignment(s)))),
    ],
    [TYPE.listener, resourceSet([resource(TYPE.listener, 'mcp_egress', buildListener(listener))])],
    [TYPE.route, resourceSet([resource(TYPE.route, 'mcp_routes', buildRouteConfiguration(catalog))])],
  ]);
}
