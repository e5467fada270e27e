// The route a 2026-07-28 tools/call matches on its headers alone, on a server
// with rules. Pure.
//
// Envoy creates a request's filters from the route its headers match, before
// json_to_metadata has read the body (list-filtering.ts, listFilterOn), and
// creating the list filter's ext_proc costs about 9 µs of Envoy CPU even when
// it then skips everything (bench/RESULTS.md, "Where JWT's CPU goes"). A
// 2026-07-28 POST whose Mcp-Method header says tools/call matches this route
// first, which does not turn the list filter on; RBAC and jwt_authn it does
// (route-auth.ts). Once the body is read the request takes the route its
// body picks, and the header can no longer lie about it:
//  - the body calls tools/call: a tool route (RBAC; no list to filter);
//  - the body names another method: the header-mismatch route answers 400
//    (mcp-route-keys.ts) before any list, listen or default route;
//  - the body names no method (a batch, a JSON-RPC response, a body that is
//    not JSON): this route itself, a 400 — where the default route would
//    have sent the body to the list filter, which refuses batches.
// 2025-era requests and 2026-07-28 requests without the header keep the
// default route and the list filter.
import { MODERN_VERSION } from '../../lib/mesh-contracts.js';
import { mismatchBody, ROUTE_KEY_NAMESPACE } from './mcp-route-keys.js';

/** Its name's last part, by which route-auth.ts leaves the list filter off on it. */
export const TOOL_CALL_HEADER_ROUTE = 'header-mismatch/tools-call-without-method';

export function isToolCallHeaderRoute(name: string): boolean {
  return name.endsWith(`/${TOOL_CALL_HEADER_ROUTE}`);
}

export function toolCallHeaderRoute(pathPrefix: string, server: string, statPrefix: string, metadata: object): object {
  return {
    name: `${server}/${TOOL_CALL_HEADER_ROUTE}`,
    stat_prefix: statPrefix,
    match: {
      path_separated_prefix: pathPrefix,
      headers: [
        { name: 'mcp-protocol-version', string_match: { exact: MODERN_VERSION } },
        { name: ':method', string_match: { exact: 'POST' } },
        { name: 'mcp-method', string_match: { exact: 'tools/call' } },
      ],
      // Before the body is read there is no method; after, only a body without one still matches.
      dynamic_metadata: [{ filter: ROUTE_KEY_NAMESPACE, path: [{ key: 'method' }], value: { present_match: true }, invert: true }],
    },
    direct_response: {
      status: 400,
      body: {
        inline_string: mismatchBody('the Mcp-Method header names tools/call but the body names no method', 'tools/call', '(no method)'),
      },
    },
    response_headers_to_add: [{ header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    metadata,
  };
}
