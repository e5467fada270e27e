// How routes find their MCP method and tool: always from the JSON-RPC body,
// never from the Mcp-Method/Mcp-Name headers. Envoy's json_to_metadata filter
// parses POST bodies and writes the top-level `method` and `params.name` into
// dynamic metadata (namespace `mcpmesh`), and routes match that metadata. A
// header therefore never chooses a retry policy, whatever the protocol
// generation: a client that names a read-only tool in its headers while its
// body calls another tool gets the other tool's policy.
//
// Headers still matter to the upstream, so each generation gets what it needs:
//  - 2026-07-28 requests (MCP-Protocol-Version: 2026-07-28) keep their headers
//    as sent. Where the route knows the body's value (tools/call, a known
//    tool's name), a header that is present and different is refused here with
//    the adapter's HeaderMismatch answer (HTTP 400, JSON-RPC -32020) before any
//    upstream sees the request; other mismatches reach the upstream unchanged,
//    which must refuse them (the adapter does). Missing headers are never
//    filled in, so the adapter's required-header check holds behind Envoy.
//  - Any other request (2025-era sessions, initialize, a client that sends only
//    the body): headers present are replaced with the body's values on tool
//    routes and removed elsewhere, so the upstream never sees a header that
//    disagrees with the body.
//
// Why not Lua (this used to be a Lua filter): the body scan cost ~25 µs of CPU
// per call, json_to_metadata ~5-20 µs (bench/RESULTS.md). Why not
// envoy.filters.http.mcp (work in progress in Envoy 1.40): it costs Envoy more
// per call, gives no keys for an upper-case Content-Type or an Accept without
// both types, keeps the keys it read before a parse error, and passes a body
// over its limit whole (bench/RESULTS.md, "The MCP filter of Envoy 1.40").
// GETs and DELETEs have no body and pass the filter unbuffered; a POST with no
// method in its body (a JSON-RPC response, a batch, a body that is not JSON)
// takes the server's default route, which retries only what never reached a
// server.
import { MODERN_VERSION } from '../../lib/mesh-contracts.js';
import { argumentMetadataKey } from './load-balancing.js';

export const ROUTE_KEY_NAMESPACE = 'mcpmesh';
const METHOD_HEADER = 'mcp-method';
const NAME_HEADER = 'mcp-name';
const VERSION_HEADER = 'mcp-protocol-version';
export const ROUTE_KEY_HEADERS: readonly string[] = [METHOD_HEADER, NAME_HEADER];

/** The JSON-RPC error code of a header/body disagreement (adapter/protocol/jsonrpc-message.ts). */
const HEADER_MISMATCH = -32020;

/** Content types the adapter accepts as JSON: application/json with any parameters. */
export const JSON_CONTENT_TYPE = '(?i)application/json[ \\t]*(;.*)?';

function metadataRule(selectors: readonly string[], key: string, type: 'STRING' | 'PROTOBUF_VALUE' = 'STRING'): object {
  return {
    selectors: selectors.map((k) => ({ key: k })),
    on_present: { metadata_namespace: ROUTE_KEY_NAMESPACE, key, type },
  };
}

/**
 * The route keys, each argument a hash strategy hashes on (`params.arguments.<name>`, as a string),
 * and `extraRules`: the tool arguments param routes match on (param-routes.ts).
 */
export function mcpRouteKeyHttpFilters(hashArguments: readonly string[] = [], extraRules: readonly object[] = []): object[] {
  return [
    {
      name: 'envoy.filters.http.json_to_metadata',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.json_to_metadata.v3.JsonToMetadata',
        request_rules: {
          rules: [
            metadataRule(['method'], 'method'),
            metadataRule(['params', 'name'], 'name'),
            // The resource a resources/read names (authorization rules, tool-authorization.ts).
            metadataRule(['params', 'uri'], 'uri'),
            ...hashArguments.map((a) => metadataRule(['params', 'arguments', a], argumentMetadataKey(a))),
            ...extraRules,
            // Kept as a number or a string, for answers Envoy makes itself (a rate limit's 429).
            metadataRule(['id'], 'id', 'PROTOBUF_VALUE'),
          ],
          allow_content_types_regex: { regex: JSON_CONTENT_TYPE },
        },
      },
    },
  ];
}

function bodyKey(key: 'method' | 'name', value: object): object {
  return { filter: ROUTE_KEY_NAMESPACE, path: [{ key }], value };
}

const exact = (s: string) => ({ string_match: { exact: s } });
const METHOD_PRESENT = bodyKey('method', { present_match: true });
const MODERN_HEADER = { name: VERSION_HEADER, string_match: { exact: MODERN_VERSION } };

/** A header that is present and is none of `values`. */
function presentAndNot(name: string, values: readonly string[]): object[] {
  return values.map((v) => ({ name, string_match: { exact: v }, invert_match: true }));
}

/** A tools/call with this tool name in its body (any tool without a name). */
export function toolCallMatch(pathPrefix: string, tool?: string): object {
  const meta = [bodyKey('method', { string_match: { exact: 'tools/call' } })];
  if (tool !== undefined) meta.push(bodyKey('name', { string_match: { exact: tool } }));
  return { path_separated_prefix: pathPrefix, dynamic_metadata: meta };
}

/** A request whose body names this method. */
export function methodMatch(pathPrefix: string, method: string): object {
  return { path_separated_prefix: pathPrefix, dynamic_metadata: [bodyKey('method', exact(method))] };
}

/** Any request whose body names a method. */
export function rpcMatch(pathPrefix: string): object {
  return { path_separated_prefix: pathPrefix, dynamic_metadata: [METHOD_PRESENT] };
}

/** The same match, for 2026-07-28 requests only. */
export function modernOnly(match: object): object {
  return { ...match, headers: [MODERN_HEADER, ...((match as { headers?: object[] }).headers ?? [])] };
}

const SENTINEL_PREFIX = '=?base64?';

/** Header values a client may send for `value`: as is, and in the `=?base64?…?=` form. */
export function headerForms(value: string): string[] {
  return [value, `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}?=`];
}

/** The form Envoy writes: as is when that is a plain header value, else the Base64 form. */
export function headerForm(value: string): string {
  const plain = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !value.startsWith(SENTINEL_PREFIX);
  return plain ? value : headerForms(value)[1]!;
}

/** The JSON-RPC error body of a direct 400 for headers that disagree with the body. */
export function mismatchBody(why: string, header: string, body: string): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    // A direct response cannot echo the request's id.
    id: null,
    error: {
      code: HEADER_MISMATCH,
      message: `Bad Request: the request headers and body disagree: ${why}`,
      data: { mismatch: { header, body } },
    },
  });
}

export interface MismatchRoute {
  readonly name: string;
  readonly match: object;
  readonly body: string;
}

/**
 * The 2026-07-28 header checks Envoy can make: each match is a header that is
 * present and differs from what the body says; ordered before the routes of
 * the same body keys.
 */
export function headerMismatchRoutes(pathPrefix: string, server: string, tools: readonly string[]): MismatchRoute[] {
  const routes: MismatchRoute[] = [
    {
      name: `${server}/header-mismatch/method`,
      match: modernOnly({ ...toolCallMatch(pathPrefix), headers: presentAndNot(METHOD_HEADER, ['tools/call']) }),
      body: mismatchBody(
        'the body names method tools/call but the Mcp-Method header names another method',
        '(not tools/call)',
        'tools/call',
      ),
    },
    {
      name: `${server}/header-mismatch/method-claim`,
      match: modernOnly({
        path_separated_prefix: pathPrefix,
        dynamic_metadata: [METHOD_PRESENT, { ...bodyKey('method', { string_match: { exact: 'tools/call' } }), invert: true }],
        headers: [{ name: METHOD_HEADER, ...exact('tools/call') }],
      }),
      body: mismatchBody('the Mcp-Method header names tools/call but the body names another method', 'tools/call', '(not tools/call)'),
    },
  ];
  for (const tool of tools) {
    routes.push({
      name: `${server}/header-mismatch/tool/${tool}`,
      match: modernOnly({ ...toolCallMatch(pathPrefix, tool), headers: presentAndNot(NAME_HEADER, headerForms(tool)) }),
      body: mismatchBody(`the body carries params.name="${tool}" but the Mcp-Name header names another tool`, '(another tool)', tool),
    });
  }
  return routes;
}

const overwrite = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS' });

/**
 * A known tool's route: headers present take the body's values (a no-op for
 * 2026-07-28 requests, whose differing headers were refused already).
 */
export function toolRouteHeaders(tool: string): object[] {
  return [overwrite(METHOD_HEADER, 'tools/call'), overwrite(NAME_HEADER, headerForm(tool))];
}
