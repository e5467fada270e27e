// Catalog → the egress RouteConfiguration (RDS): /mcp/<server> to its cluster,
// with one route per known tool carrying that tool's retry policy and timeout.
import { agentPath, RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { Catalog, CatalogServer, EffectiveRetry } from '../catalog/model.js';
import { clusterName } from './clusters.js';
import { toolRouteMatch } from './mcp-route-keys.js';
import { ROUTE_METADATA_NAMESPACE } from './observability.js';
import { duration, struct, u32 } from './proto-values.js';

export const ROUTE_CONFIG_NAME = 'mcp_routes';

function statName(part: string): string {
  return part.replace(/[^A-Za-z0-9_-]/g, '_');
}

function retryPolicy(retry: EffectiveRetry): object {
  const policy: Record<string, unknown> = {
    retry_on: retry.retryOn.join(','),
    num_retries: u32(retry.attempts),
    retry_back_off: { base_interval: duration(retry.backoffBaseMs), max_interval: duration(retry.backoffMaxMs) },
    // Never retry on the replica that just failed.
    retry_host_predicate: [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
        },
      },
    ],
    // The predicate only makes the balancer pick again, up to this many times.
    // A replica that fails at once has the fewest requests in flight, so
    // least-request picks it for 1 - (1 - 1/n)^2 of the draws (5/9 of three
    // replicas): five re-picks left a retry on it 2.9% of the time, twenty leave
    // it 0.0004%. Picking is in memory and cheap.
    host_selection_retry_max_attempts: '20',
  };
  if (retry.retryOn.includes('retriable-headers')) {
    policy['retriable_headers'] = [{ name: RETRYABLE_HEADER, string_match: { exact: 'true' } }];
  }
  if (retry.perTryTimeoutMs !== undefined) policy['per_try_timeout'] = duration(retry.perTryTimeoutMs);
  return policy;
}

function routeAction(server: CatalogServer, timeoutMs: number | undefined, retry: EffectiveRetry): object {
  return {
    cluster: clusterName(server.name),
    prefix_rewrite: server.path,
    // SSE responses stream for as long as the call runs: no whole-response
    // timeout unless a tool policy bounds the call; the idle timeout catches
    // dead streams instead.
    timeout: duration(timeoutMs ?? 0),
    idle_timeout: duration(server.policy.idleTimeoutMs),
    retry_policy: retryPolicy(retry),
  };
}

/** The routes of one server, in match order; the route configuration joins them. */
export function serverRoutes(server: CatalogServer): object[] {
  const prefix = agentPath(server.name);
  const stat = statName(server.name);
  // The access log's `server` field (%METADATA(ROUTE:mcpmesh:server)%).
  const metadata = { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: struct({ server: server.name }) } };
  const routes: object[] = server.toolRoutes.map((t) => ({
    name: `${server.name}/tool/${t.tool}`,
    stat_prefix: `${stat}__tool__${statName(t.tool)}`,
    match: toolRouteMatch(prefix, 'tools/call', t.tool),
    route: routeAction(server, t.timeoutMs, t.retry),
    metadata,
  }));
  routes.push({
    name: `${server.name}/tools-call`,
    stat_prefix: `${stat}__tools_call`,
    match: toolRouteMatch(prefix, 'tools/call'),
    route: routeAction(server, server.policy.toolTimeoutMs, server.policy.unsafeRetry),
    metadata,
  });
  routes.push({
    name: `${server.name}/default`,
    stat_prefix: `${stat}__default`,
    match: { path_separated_prefix: prefix },
    route: routeAction(server, undefined, server.policy.safeRetry),
    metadata,
  });
  return routes;
}

/**
 * The one virtual host, without its routes. Each try carries
 * x-envoy-attempt-count upstream: an adapter that sees a retry fail the way
 * a query of death does answers it 422, which no retry policy here retries
 * and outlier detection does not count (adapter/protocol/failure-classes.ts),
 * so such a request costs at most two replicas a process, not every one.
 */
export const VIRTUAL_HOST = { name: 'mcp', domains: ['*'], include_request_attempt_count: true } as const;

export function buildRouteConfiguration(catalog: Catalog): object {
  return {
    name: ROUTE_CONFIG_NAME,
    virtual_hosts: [{ ...VIRTUAL_HOST, routes: catalog.servers.flatMap(serverRoutes) }],
  };
}
