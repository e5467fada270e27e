// Catalog → a complete, immutable xDS snapshot: every resource encoded into an
// Any, each with a content-hash version. Equal catalogs give equal versions, so
// a restarted control plane does not churn connected Envoys.
//
// Encoding is the expensive step (1000 servers: ~300 ms uncached), so the
// builder remembers each server's encodings by the server's catalog entry and
// re-encodes only servers that changed.
// The route configuration is one resource for all servers; it is joined from
// per-server encoded route lists (protobuf concatenation appends repeated fields).
import { createHash } from 'node:crypto';
import type { Catalog, CatalogServer } from '../catalog/model.js';
import { encodePartial, lengthDelimitedHeader, packAny, TYPE, type PackedAny, type TypeUrl } from '../xds/envoy-protos.js';
import { buildCluster, clusterName } from './clusters.js';
import { buildLoadAssignment } from './endpoints.js';
import { buildListener, LISTENER_NAME, type ListenerOptions } from './listener.js';
import { ROUTE_CONFIG_NAME, serverRoutes, VIRTUAL_HOST } from './routes.js';

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

export function resourceSet(list: readonly SnapshotResource[]): ResourceSet {
  const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // One string, one digest update: a thousand resources cost 4000 calls otherwise.
  const version = hash([sorted.map((r) => `${r.name}\0${r.version}\0`).join('')]);
  return { version, resources: new Map(sorted.map((r) => [r.name, r])) };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

interface ServerResources {
  readonly cluster: SnapshotResource;
  readonly endpoints: SnapshotResource;
  /** This server's routes as an encoded VirtualHost fragment. */
  readonly routes: Uint8Array;
}

export class SnapshotBuilder {
  /** Encodings of the previous build, keyed by their input; what a build does not use is dropped. */
  private previous = new Map<string, ServerResources>();
  private listenerCache: { key: string; resource: SnapshotResource } | undefined;

  /** The same catalog entry object as before: no need to serialize it for its key. */
  private keys = new WeakMap<CatalogServer, string>();

  private serverResources(server: CatalogServer, used: Map<string, ServerResources>): ServerResources {
    let key = this.keys.get(server);
    if (key === undefined) {
      key = JSON.stringify(server);
      this.keys.set(server, key);
    }
    const hit = used.get(key) ?? this.previous.get(key);
    const out = hit ?? {
      cluster: encodeResource(TYPE.cluster, clusterName(server.name), buildCluster(server)),
      endpoints: encodeResource(TYPE.endpoints, clusterName(server.name), buildLoadAssignment(server)),
      routes: encodePartial('envoy.config.route.v3.VirtualHost', { routes: serverRoutes(server) }),
    };
    used.set(key, out);
    return out;
  }

  private listener(opts: ListenerOptions): SnapshotResource {
    const key = JSON.stringify(opts);
    if (this.listenerCache?.key !== key) this.listenerCache = { key, resource: encodeResource(TYPE.listener, LISTENER_NAME, buildListener(opts)) };
    return this.listenerCache.resource;
  }

  /** The previous build's sets: an unchanged set is handed out again, so streams can compare by identity. */
  private previousSets = new Map<TypeUrl, ResourceSet>();
  private previousRoutes: { parts: readonly Uint8Array[]; resource: SnapshotResource } | undefined;

  build(catalog: Catalog, listener: ListenerOptions): Snapshot {
    const used = new Map<string, ServerResources>();
    const per = catalog.servers.map((s) => this.serverResources(s, used));
    this.previous = used;
    const snapshot = new Map<TypeUrl, ResourceSet>([
      [TYPE.cluster, this.set(TYPE.cluster, per.map((r) => r.cluster))],
      [TYPE.endpoints, this.set(TYPE.endpoints, per.map((r) => r.endpoints))],
      [TYPE.listener, this.set(TYPE.listener, [this.listener(listener)])],
      [TYPE.route, this.set(TYPE.route, [this.routes(per.map((r) => r.routes))])],
    ]);
    this.previousSets = snapshot;
    return snapshot;
  }

  /** The previous set when it holds the same resources (versions are content hashes). */
  private set(type: TypeUrl, list: readonly SnapshotResource[]): ResourceSet {
    const prev = this.previousSets.get(type);
    if (prev && prev.resources.size === list.length && list.every((r) => prev.resources.get(r.name)?.version === r.version)) return prev;
    return resourceSet(list);
  }

  /** Joining and hashing every server's routes costs more than a change to one server's endpoints: skip it when no part changed. */
  private routes(parts: readonly Uint8Array[]): SnapshotResource {
    const prev = this.previousRoutes;
    if (prev && prev.parts.length === parts.length && parts.every((p, i) => sameBytes(prev.parts[i]!, p))) return prev.resource;
    this.previousRoutes = { parts, resource: routeConfiguration(parts) };
    return this.previousRoutes.resource;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.compare(a, b) === 0);
}

function encodeResource(typeUrl: TypeUrl, name: string, body: object): SnapshotResource {
  const any = packAny(typeUrl, body);
  return { name, version: hash([any.value]), any };
}

function routeConfiguration(serverParts: readonly Uint8Array[]): SnapshotResource {
  const vhost = concat([encodePartial('envoy.config.route.v3.VirtualHost', VIRTUAL_HOST), ...serverParts]);
  const value = concat([
    encodePartial('envoy.config.route.v3.RouteConfiguration', { name: ROUTE_CONFIG_NAME }),
    lengthDelimitedHeader(2, vhost.length),
    vhost,
  ]);
  return { name: ROUTE_CONFIG_NAME, version: hash([value]), any: { type_url: TYPE.route, value } };
}

/** One-off build (tests, tools): no cache carried between calls. */
export function buildSnapshot(catalog: Catalog, listener: ListenerOptions): Snapshot {
  return new SnapshotBuilder().build(catalog, listener);
}
