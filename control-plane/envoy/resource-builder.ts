// Catalog → every Envoy resource, encoded into an Any.
//
// Encoding is the expensive step (1000 servers: ~300 ms uncached), so the
// builder remembers each server's encodings by the server's catalog entry and
// re-encodes only servers that changed; what did not change is handed out as
// the same object, which lets the xDS side skip versioning it again.
// The route configuration is one resource for all servers; it is joined from
// per-server encoded route lists (protobuf concatenation appends repeated fields).
import type { Catalog, CatalogServer } from '../catalog/model.js';
import { type EncodedResource, type EncodedResources, encodePartial, lengthDelimitedHeader, packAny } from '../xds/api/envoy-protos.js';
import { TYPE, type TypeUrl } from '../xds/api/type-urls.js';
import { jwksClusters } from './agent-auth.js';
import { buildCluster, clusterName, type UpstreamTlsDefaults } from './clusters.js';
import { buildLoadAssignment } from './endpoints.js';
import { buildListener, buildTracedListener, LISTENER_NAME, type ListenerOptions } from './listener.js';
import { balancedClusterName, hashedArguments, serverBalancings } from './load-balancing.js';
import { COLLECTOR_CLUSTER, collectorCluster } from './observability.js';
import { routedArguments } from './param-routes.js';
import { ROUTE_CONFIG_NAME, serverRoutes, TRACED_ROUTE_CONFIG_NAME, VIRTUAL_HOST } from './routes.js';
import { splitsTracing, TRACED_HOP_CLUSTER, TRACED_LISTENER_NAME, tracedHopCluster, tracedHopRoutes } from './trace-split.js';

interface ServerResources {
  /** The server's cluster, then one per other balancing its tools use (load-balancing.ts). */
  readonly clusters: readonly EncodedResource[];
  readonly endpoints: EncodedResource;
  /** This server's routes as an encoded VirtualHost fragment. */
  readonly routes: Uint8Array;
}

export class EnvoyResourceBuilder {
  /** Encodings of the previous build, keyed by their input; what a build does not use is dropped. */
  private previous = new Map<string, ServerResources>();
  private listenerCache: { key: string; resources: EncodedResource[] } | undefined;
  private collectorCache: { key: string; resource: EncodedResource } | undefined;
  private jwksCache: { key: string; resources: EncodedResource[] } | undefined;
  private previousRoutes: { parts: readonly Uint8Array[]; split: number | undefined; resources: EncodedResource[] } | undefined;
  private tracedHop: EncodedResource | undefined;

  /** The same catalog entry object as before: no need to serialize it for its key. */
  private keys = new WeakMap<CatalogServer, string>();

  /** Fixed for the builder's life, so catalog entries alone still key the encodings. */
  constructor(private readonly upstreamTls: UpstreamTlsDefaults = {}) {}

  build(catalog: Catalog, listener: ListenerOptions): EncodedResources {
    const used = new Map<string, ServerResources>();
    const datacenters = catalog.datacenters ?? [];
    const per = catalog.servers.map((s) => this.serverResources(s, datacenters, used));
    this.previous = used;
    const clusters = per.flatMap((r) => r.clusters);
    const collector = this.collector(listener);
    if (collector) clusters.push(collector);
    clusters.push(...this.jwks(listener));
    const tracing = listener.observability?.tracing;
    // The traced pass of the split (trace-split.ts): its internal listener, the cluster to it, and its routes.
    const split = splitsTracing(tracing) ? tracing.sampling : undefined;
    if (split !== undefined) {
      this.tracedHop ??= encodeResource(TYPE.cluster, TRACED_HOP_CLUSTER, tracedHopCluster());
      clusters.push(this.tracedHop);
    }
    return new Map<TypeUrl, readonly EncodedResource[]>([
      [TYPE.cluster, clusters],
      [TYPE.endpoints, per.map((r) => r.endpoints)],
      [TYPE.listener, this.listeners(withRoutedArguments(withHashedArguments(listener, catalog), catalog))],
      [
        TYPE.route,
        this.routes(
          per.map((r) => r.routes),
          split,
        ),
      ],
    ]);
  }

  private serverResources(server: CatalogServer, datacenters: readonly string[], used: Map<string, ServerResources>): ServerResources {
    let serverKey = this.keys.get(server);
    if (serverKey === undefined) {
      serverKey = JSON.stringify(server);
      this.keys.set(server, serverKey);
    }
    // The datacenters' order decides the endpoints' priorities.
    const key = datacenters.length === 0 ? serverKey : `${serverKey}|${datacenters.join(',')}`;
    const hit = used.get(key) ?? this.previous.get(key);
    const out = hit ?? {
      clusters: serverBalancings(server).map((lb) =>
        encodeResource(TYPE.cluster, balancedClusterName(server, lb), buildCluster(server, this.upstreamTls, lb)),
      ),
      endpoints: encodeResource(TYPE.endpoints, clusterName(server.name), buildLoadAssignment(server, datacenters)),
      routes: encodePartial('envoy.config.route.v3.VirtualHost', { routes: serverRoutes(server) }),
    };
    used.set(key, out);
    return out;
  }

  private listeners(opts: ListenerOptions): EncodedResource[] {
    const key = JSON.stringify(opts);
    if (this.listenerCache?.key !== key) {
      const resources = [encodeResource(TYPE.listener, LISTENER_NAME, buildListener(opts))];
      if (splitsTracing(opts.observability?.tracing))
        resources.push(encodeResource(TYPE.listener, TRACED_LISTENER_NAME, buildTracedListener(opts)));
      this.listenerCache = { key, resources };
    }
    return this.listenerCache.resources;
  }

  /** The clusters remote JWKS are fetched through. */
  private jwks(opts: ListenerOptions): EncodedResource[] {
    const key = JSON.stringify(opts.auth?.providers ?? null);
    if (this.jwksCache?.key !== key)
      this.jwksCache = {
        key,
        resources: jwksClusters(opts.auth, this.upstreamTls.caFile).map((c) => encodeResource(TYPE.cluster, c.name, c.cluster)),
      };
    return this.jwksCache.resources;
  }

  /** The trace collector's cluster while tracing is on. */
  private collector(opts: ListenerOptions): EncodedResource | undefined {
    const tracing = opts.observability?.tracing;
    if (!tracing) return undefined;
    const key = tracing.collector;
    if (this.collectorCache?.key !== key)
      this.collectorCache = { key, resource: encodeResource(TYPE.cluster, COLLECTOR_CLUSTER, collectorCluster(tracing)) };
    return this.collectorCache.resource;
  }

  /**
   * Joining every server's routes, and hashing the join, costs more than a change to one server's endpoints: skip both when no part changed.
   * `split`: the sampling percent of the split tracing; the listener agents reach then has the split's routes first, the traced pass the mesh's alone.
   */
  private routes(parts: readonly Uint8Array[], split: number | undefined): EncodedResource[] {
    const prev = this.previousRoutes;
    if (prev && prev.split === split && prev.parts.length === parts.length && parts.every((p, i) => sameBytes(prev.parts[i]!, p)))
      return prev.resources;
    const resources =
      split === undefined
        ? [routeConfiguration(ROUTE_CONFIG_NAME, parts)]
        : [
            routeConfiguration(ROUTE_CONFIG_NAME, [
              encodePartial('envoy.config.route.v3.VirtualHost', { routes: tracedHopRoutes(split) }),
              ...parts,
            ]),
            routeConfiguration(TRACED_ROUTE_CONFIG_NAME, parts),
          ];
    this.previousRoutes = { parts, split, resources };
    return resources;
  }
}

/** json_to_metadata extracts the arguments some route hashes on; none: the listener is as before. */
function withHashedArguments(listener: ListenerOptions, catalog: Catalog): ListenerOptions {
  const hashArguments = hashedArguments(catalog);
  return hashArguments.length === 0 ? listener : { ...listener, hashArguments };
}

/** The listener reads the arguments routes match on; without any, its options (and bytes) are as before. */
function withRoutedArguments(listener: ListenerOptions, catalog: Catalog): ListenerOptions {
  const paths = routedArguments(catalog);
  return paths.length === 0 ? listener : { ...listener, routedArguments: paths };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.compare(a, b) === 0);
}

function encodeResource(typeUrl: TypeUrl, name: string, body: object): EncodedResource {
  return { name, any: packAny(typeUrl, body) };
}

function routeConfiguration(name: string, serverParts: readonly Uint8Array[]): EncodedResource {
  // Field order as a whole encoding writes it: name, domains, routes (3), then the later fields.
  const { include_request_attempt_count, per_request_buffer_limit_bytes, ...head } = VIRTUAL_HOST;
  const vhost = Buffer.concat([
    encodePartial('envoy.config.route.v3.VirtualHost', head),
    ...serverParts,
    encodePartial('envoy.config.route.v3.VirtualHost', { include_request_attempt_count, per_request_buffer_limit_bytes }),
  ]);
  const value = Buffer.concat([
    encodePartial('envoy.config.route.v3.RouteConfiguration', { name }),
    lengthDelimitedHeader(2, vhost.length),
    vhost,
  ]);
  return { name, any: { type_url: TYPE.route, value } };
}
