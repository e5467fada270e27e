// Catalog → the egress RouteConfiguration (RDS): /mcp/<server> to its cluster,
// with one route per known tool carrying that tool's retry policy and timeout.
// Routes match the body's method and tool name (mcp-route-keys.ts), never the
// Mcp-Method/Mcp-Name headers.
import { agentPath, RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { EffectiveLoadBalancing } from '../catalog/load-balancing.js';
import type { Catalog, CatalogServer, EffectiveRetry } from '../catalog/model.js';
import { defaultRouteExtProc, filtersLists, listenRouteExtProc, listMatch, listRouteExtProc } from './list-filtering.js';
import { balancedClusterName, type HashableRoute, retryPriority, routeHashPolicy, withHashKey } from './load-balancing.js';
import {
  headerMismatchRoutes,
  methodMatch,
  modernOnly,
  ROUTE_KEY_HEADERS,
  rpcMatch,
  toolCallMatch,
  toolRouteHeaders,
} from './mcp-route-keys.js';
import { paramRouteEntries } from './param-routes.js';
import { duration, u32 } from './proto-values.js';
import { rateLimitRouteFields } from './rate-limits.js';
import { refusedRoute, routeMetadata, withAuth } from './route-auth.js';
import { withPathGuard } from './route-path-guard.js';
import { toolCallHeaderRoute } from './tool-call-header-route.js';

export const ROUTE_CONFIG_NAME = 'mcp_routes';
/** The traced internal listener's routes (trace-split.ts): the mesh's routes without the split's. */
export const TRACED_ROUTE_CONFIG_NAME = 'mcp_routes_traced';

/**
 * A subscriptions/listen stream is quiet between changes except for the
 * adapter's keep-alive comment (every 25 s by default): its idle timeout is
 * never below this, whatever the server's idleTimeout says for calls.
 */
export const LISTEN_MIN_IDLE_TIMEOUT_MS = 60_000;

/**
 * Request bodies are read whole to find their route keys (and kept for
 * retries), up to this size: the adapter's own default limit (`--max-body`).
 * Envoy answers a larger body 413.
 */
export const MAX_REQUEST_BODY_BYTES = 4 * 1024 * 1024;

function statName(part: string): string {
  return part.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function retryPolicy(retry: EffectiveRetry): object {
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

function routeAction(
  server: CatalogServer,
  timeoutMs: number | undefined,
  retry: EffectiveRetry,
  lb: EffectiveLoadBalancing = server.policy.loadBalancing,
): object {
  return {
    cluster: balancedClusterName(server, lb),
    ...routeHashPolicy(lb),
    prefix_rewrite: server.path,
    // SSE responses stream for as long as the call runs: no whole-response
    // timeout unless a tool policy bounds the call; the idle timeout catches
    // dead streams instead.
    timeout: duration(timeoutMs ?? 0),
    idle_timeout: duration(server.policy.idleTimeoutMs),
    retry_policy: { ...retryPolicy(retry), ...retryPriority(server) },
  };
}

/**
 * The routes of one server, in match order; the route configuration joins them:
 * the 2026-07-28 header checks Envoy can make, one route per known tool, any
 * other tools/call, the list methods (servers with rules: list filtering), any
 * other method, GET and DELETE (no body), and any other request without a
 * method in its body (JSON-RPC responses, bodies that are not JSON-RPC).
 * tools/call and other methods each have a 2026-07-28 route that passes the
 * headers on as sent, for the upstream to check, and one for every other
 * request that removes them. Servers that require tokens get their auth on
 * every route and their metadata document (route-auth.ts); a server whose
 * auth cannot be enforced gets one refusing route. Each route tests the path
 * first (route-path-guard.ts), so other servers' routes cost little.
 */
export function serverRoutes(server: CatalogServer): object[] {
  if (server.auth.mode === 'refused') return [refusedRoute(server, server.auth.reason, `${statName(server.name)}__auth_refused`)];
  return withAuth(server, trafficRoutes(server).map(withPathGuard));
}

/** tools/list, prompts/list, resources/list and resources/templates/list of a server with rules: answered through the list filter. */
function listRoutes(server: CatalogServer, rpc: object, metadata: object): HashableRoute[] {
  if (!filtersLists(server.auth)) return [];
  const prefix = agentPath(server.name);
  const common = { stat_prefix: `${statName(server.name)}__lists`, route: rpc, metadata, typed_per_filter_config: listRouteExtProc() };
  return [
    { name: `${server.name}/lists/2026`, match: modernOnly(listMatch(prefix)), ...common },
    { name: `${server.name}/lists`, match: listMatch(prefix), request_headers_to_remove: ROUTE_KEY_HEADERS, ...common },
  ];
}

/** The routes that carry the server's traffic, in match order. */
function trafficRoutes(server: CatalogServer): object[] {
  const prefix = agentPath(server.name);
  const stat = statName(server.name);
  // The access log's `server` field (%METADATA(ROUTE:mcpmesh:server)%).
  const metadata = routeMetadata(server);
  const routes: object[] = headerMismatchRoutes(
    prefix,
    server.name,
    server.toolRoutes.map((t) => t.tool),
  ).map((m) => ({
    name: m.name,
    stat_prefix: `${stat}__header_mismatch`,
    match: m.match,
    direct_response: { status: 400, body: { inline_string: m.body } },
    response_headers_to_add: [{ header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    metadata,
  }));
  // On a server with rules, a 2026-07-28 tools/call's headers pick this route (every route below needs a
  // method in the body, or is GET/DELETE or the default), which leaves the list filter off.
  if (filtersLists(server.auth)) routes.push(toolCallHeaderRoute(prefix, server.name, `${stat}__header_mismatch`, metadata));
  routes.push(...paramRouteEntries(server, { prefix, stat, metadata, retryPolicy, idleTimeoutMs: server.policy.idleTimeoutMs }));
  for (const t of server.toolRoutes) {
    routes.push(
      withHashKey(
        {
          name: `${server.name}/tool/${t.tool}`,
          stat_prefix: `${stat}__tool__${statName(t.tool)}`,
          match: toolCallMatch(prefix, t.tool),
          route: routeAction(server, t.timeoutMs, t.retry, t.loadBalancing),
          request_headers_to_add: toolRouteHeaders(t.tool),
          metadata,
          ...rateLimitRouteFields(server.name, t.tool, t.rateLimit),
        },
        t.loadBalancing,
      ),
    );
  }
  const toolsCall = routeAction(server, server.policy.toolTimeoutMs, server.policy.unsafeRetry);
  const rpc = routeAction(server, undefined, server.policy.safeRetry);
  const toolsCallLimit = rateLimitRouteFields(server.name, undefined, server.policy.rateLimit);
  const methodRoutes: HashableRoute[] = [
    {
      name: `${server.name}/tools-call/2026`,
      stat_prefix: `${stat}__tools_call`,
      match: modernOnly(toolCallMatch(prefix)),
      route: toolsCall,
      metadata,
      ...toolsCallLimit,
    },
    {
      name: `${server.name}/tools-call`,
      stat_prefix: `${stat}__tools_call`,
      match: toolCallMatch(prefix),
      route: toolsCall,
      request_headers_to_remove: ROUTE_KEY_HEADERS,
      metadata,
      ...toolsCallLimit,
    },
    // The 2026-07-28 notification stream lives as long as its client listens:
    // no whole-request or per-try timeout, and an idle timeout above the
    // adapter's keep-alive. Safe to retry until the stream has started.
    {
      name: `${server.name}/listen/2026`,
      stat_prefix: `${stat}__listen`,
      match: modernOnly(methodMatch(prefix, 'subscriptions/listen')),
      route: {
        ...routeAction(server, undefined, { ...server.policy.safeRetry, perTryTimeoutMs: undefined }),
        idle_timeout: duration(Math.max(server.policy.idleTimeoutMs, LISTEN_MIN_IDLE_TIMEOUT_MS)),
      },
      metadata,
      // The URIs it subscribes to are checked against the resource rules.
      ...(filtersLists(server.auth) ? { typed_per_filter_config: listenRouteExtProc() } : {}),
    },
    ...listRoutes(server, rpc, metadata),
    { name: `${server.name}/rpc/2026`, stat_prefix: `${stat}__rpc`, match: modernOnly(rpcMatch(prefix)), route: rpc, metadata },
    {
      name: `${server.name}/rpc`,
      stat_prefix: `${stat}__rpc`,
      match: rpcMatch(prefix),
      route: rpc,
      request_headers_to_remove: ROUTE_KEY_HEADERS,
      metadata,
    },
    // GET (the session's stream) and DELETE carry no body and are safe to repeat.
    {
      name: `${server.name}/get-delete`,
      stat_prefix: `${stat}__default`,
      match: { path_separated_prefix: prefix, headers: [{ name: ':method', string_match: { safe_regex: { regex: 'GET|DELETE' } } }] },
      route: rpc,
      metadata,
    },
    // Nothing says what a POST here calls: only what never reached a server is retried.
    {
      name: `${server.name}/default`,
      stat_prefix: `${stat}__default`,
      match: { path_separated_prefix: prefix },
      route: routeAction(server, undefined, server.policy.unsafeRetry),
      metadata,
      ...(filtersLists(server.auth) ? { typed_per_filter_config: defaultRouteExtProc() } : {}),
    },
  ];
  for (const r of methodRoutes) routes.push(withHashKey(r, server.policy.loadBalancing));
  return routes;
}

/**
 * The one virtual host, without its routes. Each try carries
 * x-envoy-attempt-count upstream: an adapter that sees a retry fail the way
 * a query of death does answers it 422, which no retry policy here retries
 * and outlier detection does not count (adapter/protocol/failure-classes.ts),
 * so such a request costs at most two replicas a process, not every one.
 */
export const VIRTUAL_HOST = {
  name: 'mcp',
  domains: ['*'],
  include_request_attempt_count: true,
  per_request_buffer_limit_bytes: u32(MAX_REQUEST_BODY_BYTES),
} as const;

export function buildRouteConfiguration(catalog: Catalog): object {
  return {
    name: ROUTE_CONFIG_NAME,
    virtual_hosts: [{ ...VIRTUAL_HOST, routes: catalog.servers.flatMap(serverRoutes) }],
  };
}
