// A balancing (control-plane/catalog/load-balancing.ts) → the Envoy config that
// does it: the cluster's load_balancing_policy, and for the hash strategies the
// route's hash_policy.
//
// Envoy balances per cluster, so a tool whose balancing differs from its
// server's gets a cluster of its own, `mcp_<server>~<strategy>-<hash>`, over
// the same endpoints: its eds_cluster_config names the server's one
// ClusterLoadAssignment, so there is still one EDS resource per server, every
// EDS name is named by CDS, and the route table keeps one route per tool (the
// tool's route just names the other cluster).
//
// Hashing on an argument: Envoy's route hash_policy hashes headers, cookies,
// query parameters, filter state or the connection's source address, not
// dynamic metadata. json_to_metadata (mcp-route-keys.ts) copies the body's
// `params.arguments.<name>` into dynamic metadata, the route writes it into a
// header of its own (after removing whatever the client sent in it) and
// hashes that header. Route header mutations are applied before the router
// picks a host, so the hash sees the body's value.
import { createHash } from 'node:crypto';
import { type EffectiveLoadBalancing, loadBalancingKey, sameLoadBalancing } from '../catalog/load-balancing.js';
import type { Catalog, CatalogServer } from '../catalog/model.js';
import { duration, u32 } from './proto-values.js';

/** Namespace and key prefix of hashed arguments in dynamic metadata (json_to_metadata writes them). */
export const ARGUMENT_METADATA_NAMESPACE = 'mcpmesh';
export function argumentMetadataKey(argument: string): string {
  return `argument.${argument}`;
}
/** The header a route hashes for an argument; set by the route itself, never taken from the client. */
export const HASH_KEY_HEADER = 'x-mcpmesh-hash-key';

/** The cluster of a server's calls under this balancing: the server's own name for the server's balancing. */
export function balancedClusterName(server: CatalogServer, lb: EffectiveLoadBalancing): string {
  const base = `mcp_${server.name}`;
  if (sameLoadBalancing(lb, server.policy.loadBalancing)) return base;
  const digest = createHash('sha256').update(loadBalancingKey(lb)).digest('hex').slice(0, 10);
  return `${base}~${lb.strategy}-${digest}`;
}

/** Every balancing a server's routes use: the server's first, then each other one its tools use, once. */
export function serverBalancings(server: CatalogServer): EffectiveLoadBalancing[] {
  const out: EffectiveLoadBalancing[] = [server.policy.loadBalancing];
  const seen = new Set([loadBalancingKey(server.policy.loadBalancing)]);
  for (const t of server.toolRoutes) {
    const key = loadBalancingKey(t.loadBalancing);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t.loadBalancing);
  }
  return out;
}

/** Replicas that name a zone make the cluster zone-aware: the local zone first (bootstrap --zone). */
export function zoned(server: CatalogServer): boolean {
  return server.replicas.some((r) => r.locality?.zone !== undefined);
}

const POLICY_TYPE = 'type.googleapis.com/envoy.extensions.load_balancing_policies';

function slowStart(lb: EffectiveLoadBalancing): object {
  const s = lb.slowStart;
  if (s === undefined) return {};
  return {
    slow_start_config: {
      slow_start_window: duration(s.windowMs),
      aggression: { default_value: s.aggression, runtime_key: 'upstream.mcpmesh.slow_start_aggression' },
      min_weight_percent: { value: s.minWeightPercent },
    },
  };
}

/**
 * Zone-aware routing that keeps every call in the local zone while it has a
 * healthy replica (force_local_zone), instead of Envoy's default of matching
 * the zone shares of the calling fleet, which the control plane does not know;
 * a small cluster is zone-aware too (Envoy's default minimum is 6 hosts).
 */
function localityConfig(zoneAware: boolean): object {
  if (!zoneAware) return {};
  return { locality_lb_config: { zone_aware_lb_config: { min_cluster_size: { value: 1 }, force_local_zone: { min_size: u32(1) } } } };
}

function policy(name: string, message: string, config: object): object {
  return {
    load_balancing_policy: {
      policies: [
        {
          typed_extension_config: {
            name: `envoy.load_balancing_policies.${name}`,
            typed_config: { '@type': `${POLICY_TYPE}.${name}.v3.${message}`, ...config },
          },
        },
      ],
    },
  };
}

/** The cluster's load_balancing_policy. */
export function clusterBalancing(lb: EffectiveLoadBalancing, zoneAware: boolean): object {
  switch (lb.strategy) {
    case 'least-request':
      return policy('least_request', 'LeastRequest', { choice_count: u32(2), ...slowStart(lb), ...localityConfig(zoneAware) });
    case 'round-robin':
      return policy('round_robin', 'RoundRobin', { ...slowStart(lb), ...localityConfig(zoneAware) });
    case 'random':
      return policy('random', 'Random', localityConfig(zoneAware));
    // Consistent hashing keeps equal keys on one replica; zones would move keys, so hash strategies ignore them.
    case 'ring-hash':
      return policy('ring_hash', 'RingHash', { hash_function: 'XX_HASH', minimum_ring_size: { value: 1024 } });
    case 'maglev':
      return policy('maglev', 'Maglev', {});
  }
}

/** The route's hash_policy for the hash strategies (none for the others). */
export function routeHashPolicy(lb: EffectiveLoadBalancing): object {
  if (lb.hashOn === undefined) return {};
  const header = 'header' in lb.hashOn ? lb.hashOn.header : HASH_KEY_HEADER;
  return { hash_policy: [{ header: { header_name: header } }] };
}

/** A route (as routes.ts builds it) whose request headers can be added to. */
export interface HashableRoute {
  readonly request_headers_to_add?: readonly object[];
  readonly request_headers_to_remove?: readonly string[];
  readonly [field: string]: unknown;
}

/**
 * A route with its hash key header filled in from the body (hashing on an
 * argument): what the client sent in the header is removed first, and an
 * argument that is absent leaves no header (Envoy then picks at random).
 */
export function withHashKey<R extends HashableRoute>(route: R, lb: EffectiveLoadBalancing): R {
  if (lb.hashOn === undefined || !('argument' in lb.hashOn)) return route;
  return {
    ...route,
    request_headers_to_remove: [...(route.request_headers_to_remove ?? []), HASH_KEY_HEADER],
    request_headers_to_add: [
      ...(route.request_headers_to_add ?? []),
      {
        header: {
          key: HASH_KEY_HEADER,
          value: `%DYNAMIC_METADATA(${ARGUMENT_METADATA_NAMESPACE}:${argumentMetadataKey(lb.hashOn.argument)})%`,
        },
        append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
    ],
  };
}

/** Whether the server's replicas are in more than one datacenter (so its endpoints have more than one priority). */
export function spansDatacenters(server: CatalogServer): boolean {
  return new Set(server.replicas.map((r) => r.locality?.datacenter)).size > 1;
}

/**
 * A retry of a server in several datacenters tries another replica of the
 * same priority first, then the next priority: after every two tries the
 * priorities tried are skipped. Without it a retry stays in a datacenter whose
 * replicas all died until Envoy learns they did (outlier ejection, health),
 * and a call can fail with a healthy datacenter next door.
 */
export function retryPriority(server: CatalogServer): object {
  if (!spansDatacenters(server)) return {};
  return {
    retry_priority: {
      name: 'envoy.retry_priorities.previous_priorities',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig',
        update_frequency: 2,
      },
    },
  };
}

/** Every argument some route hashes on, sorted: json_to_metadata extracts these. */
export function hashedArguments(catalog: Catalog): string[] {
  const names = new Set<string>();
  const add = (lb: EffectiveLoadBalancing) => {
    if (lb.hashOn !== undefined && 'argument' in lb.hashOn) names.add(lb.hashOn.argument);
  };
  for (const s of catalog.servers) {
    add(s.policy.loadBalancing);
    for (const t of s.toolRoutes) add(t.loadBalancing);
  }
  return [...names].sort();
}
