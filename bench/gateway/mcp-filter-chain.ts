// The bench's candidate for issue 13: Envoy 1.40's own MCP filter
// (envoy.filters.http.mcp) giving the route keys in place of json_to_metadata
// (control-plane/envoy/mcp-route-keys.ts). Envoy's filter writes the body's
// `method` and `params.name` under its own namespace, nested as in the body
// (`params` → `name`), so the mesh's route matchers are rewritten to read them
// there; everything else in the chain and the route table stays as the control
// plane builds it. Bench only, and not a drop-in: the filter gives no keys to
// `Application/JSON` or an Accept without both types, lets a body over the
// limit through to the upstream instead of Envoy's 413, names a JSON-RPC
// response's method `__jsonrpc_response`, and keeps the keys it read before a
// parse error; the control plane keeps json_to_metadata (bench/RESULTS.md,
// "The MCP filter of Envoy 1.40 against json_to_metadata").
import { ROUTE_KEY_NAMESPACE } from '../../control-plane/envoy/mcp-route-keys.js';
import { typedStruct } from '../../control-plane/envoy/proto-values.js';
import { MAX_REQUEST_BODY_BYTES } from '../../control-plane/envoy/routes.js';

type Json = Record<string, unknown>;

export const MCP_FILTER = 'envoy.filters.http.mcp';
/** Where Envoy 1.40's filter writes what it extracts, as observed (the older namespace, mcp_proxy, is behind a runtime flag). */
export const MCP_FILTER_NAMESPACE = 'envoy.filters.http.mcp';
const JSON_TO_METADATA = 'envoy.filters.http.json_to_metadata';

/** Each key json_to_metadata writes that a route matches on, and where the MCP filter puts it. */
const KEY_PATHS: Readonly<Record<string, readonly string[]>> = {
  method: ['method'],
  name: ['params', 'name'],
  uri: ['params', 'uri'],
};

export interface McpFilterOptions {
  /** Stop reading the body once `method` (and `params.name` where it names one) are known. */
  readonly earlyTerminate?: boolean;
}

/**
 * PASS_THROUGH: a request the filter does not take for MCP goes on without
 * keys, as with json_to_metadata (REJECT_NO_MCP would answer Envoy's own
 * plain-text 400 for bodies the adapter answers itself). The body limit is the
 * mesh's, so keys placed past 8 KiB (the filter's default) are still found.
 */
export function mcpHttpFilter(options: McpFilterOptions = {}): Json {
  return {
    name: MCP_FILTER,
    // grpc-js-xds has no MCP filter proto: sent as a TypedStruct, as the mesh sends its other such filters.
    typed_config: typedStruct('type.googleapis.com/envoy.extensions.filters.http.mcp.v3.Mcp', {
      traffic_mode: 'PASS_THROUGH',
      clear_route_cache: true,
      max_request_body_size: MAX_REQUEST_BODY_BYTES,
      request_storage_mode: 'DYNAMIC_METADATA',
      ...(options.earlyTerminate ? { early_terminate_when_routable: true } : {}),
    }),
  };
}

function rewriteMatcher(m: Json): Json {
  if (m['filter'] !== ROUTE_KEY_NAMESPACE) return m;
  const path = m['path'] as Array<{ key: string }>;
  const to = path.length === 1 ? KEY_PATHS[path[0]!.key] : undefined;
  if (!to) throw new Error(`the MCP filter gives no key for ${JSON.stringify(path)}`);
  return { ...m, filter: MCP_FILTER_NAMESPACE, path: to.map((key) => ({ key })) };
}

/** The connection manager with the MCP filter in json_to_metadata's place and every route matching its keys. */
export function useMcpFilter(hcm: Json, options: McpFilterOptions = {}): void {
  const chain = hcm['http_filters'] as Json[];
  const at = chain.findIndex((f) => f['name'] === JSON_TO_METADATA);
  if (at < 0) throw new Error('the chain has no json_to_metadata to replace');
  chain[at] = mcpHttpFilter(options);
  const routeConfig = hcm['route_config'] as { virtual_hosts: Array<{ routes: Json[] }> };
  for (const vh of routeConfig.virtual_hosts) {
    for (const r of vh.routes) {
      const match = r['match'] as Json;
      const meta = match['dynamic_metadata'] as Json[] | undefined;
      if (meta) match['dynamic_metadata'] = meta.map(rewriteMatcher);
    }
  }
}
