// Routes on `Mcp-Param-*` values (catalog ParamRoutes): a 2026-07-28 tools/call
// whose argument has the rule's value goes to the rule's server. The route
// matches the body's value, never the header, and Envoy verifies the header
// first, as for Mcp-Method/Mcp-Name (mcp-route-keys.ts):
//  - json_to_metadata copies each routed argument (`params.arguments.<path>`)
//    into dynamic metadata `mcpmesh/arg:<path>`, typed as in the body;
//  - before the route, two refusals (400, -32020, the adapter's answer): the
//    body has the value and the header is present with another, or the header
//    has the value and the body another. A missing header is left to the
//    upstream adapter, which refuses it (Envoy never fills one in).
// 2025-era requests keep their server: their session belongs to it (another
// server's adapters would not know its id).
import { type ParamHeader, paramHeaderForms, paramHeaderName } from '../../lib/mcp-param-headers.js';
import type { Catalog, CatalogServer, ParamRoute } from '../catalog/model.js';
import { clusterName } from './clusters.js';
import { mismatchBody, modernOnly, ROUTE_KEY_NAMESPACE, toolCallMatch, toolRouteHeaders } from './mcp-route-keys.js';
import { duration } from './proto-values.js';

function argKey(path: readonly string[]): string {
  return `arg:${path.join('.')}`;
}

/** Every argument path some route matches on, sorted: the listener's json_to_metadata reads them. */
export function routedArguments(catalog: Catalog): string[][] {
  const paths = new Map<string, string[]>();
  for (const s of catalog.servers) for (const r of s.paramRoutes ?? []) paths.set(argKey(r.param.path), [...r.param.path]);
  return [...paths.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
}

/** json_to_metadata rules for routed arguments (PROTOBUF_VALUE keeps numbers and booleans typed). */
export function argumentMetadataRules(paths: readonly (readonly string[])[]): object[] {
  return paths.map((path) => ({
    selectors: ['params', 'arguments', ...path].map((key) => ({ key })),
    on_present: { metadata_namespace: ROUTE_KEY_NAMESPACE, key: argKey(path), type: 'PROTOBUF_VALUE' },
  }));
}

function valueMatch(p: ParamHeader, value: string): object {
  if (p.type === 'integer') return { double_match: { exact: Number(value) } };
  if (p.type === 'boolean') return { bool_match: value === 'true' };
  return { string_match: { exact: value } };
}

function argIs(r: ParamRoute): object {
  return { filter: ROUTE_KEY_NAMESPACE, path: [{ key: argKey(r.param.path) }], value: valueMatch(r.param, r.value) };
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

export interface ParamRouteOptions {
  readonly prefix: string;
  readonly stat: string;
  readonly metadata: object;
  /** The retry policy of a route (routes.ts). */
  readonly retryPolicy: (retry: ParamRoute['retry']) => object;
  readonly idleTimeoutMs: number;
}

/** The server's param routes, refusals first; they go before its tool routes. */
export function paramRouteEntries(server: CatalogServer, o: ParamRouteOptions): object[] {
  const out: object[] = [];
  (server.paramRoutes ?? []).forEach((r, i) => {
    const header = paramHeaderName(r.param);
    const forms = paramHeaderForms(r.value);
    const base = toolCallMatch(o.prefix, r.tool) as { path_separated_prefix: string; dynamic_metadata: object[] };
    const where = `arguments.${r.param.path.join('.')}`;
    const refusal = (name: string, match: object, why: string, headerText: string, bodyText: string): object => ({
      name: `${server.name}/param/${i}/${name}`,
      stat_prefix: `${o.stat}__header_mismatch`,
      match: modernOnly(match),
      direct_response: { status: 400, body: { inline_string: mismatchBody(why, headerText, bodyText) } },
      response_headers_to_add: [
        { header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
      metadata: o.metadata,
    });
    out.push(
      refusal(
        'header-differs',
        {
          ...base,
          dynamic_metadata: [...base.dynamic_metadata, argIs(r)],
          headers: forms.map((f) => ({ name: header, string_match: { exact: f }, invert_match: true })),
        },
        `the body carries ${where}=${JSON.stringify(r.value)} but the Mcp-Param-${r.param.name} header differs`,
        `(not ${r.value})`,
        r.value,
      ),
      refusal(
        'body-differs',
        {
          ...base,
          dynamic_metadata: [
            ...base.dynamic_metadata,
            { filter: ROUTE_KEY_NAMESPACE, path: [{ key: argKey(r.param.path) }], value: { present_match: true } },
            { ...argIs(r), invert: true },
          ],
          headers: [{ name: header, string_match: { safe_regex: { regex: `^(?:${forms.map(escapeRegex).join('|')})$` } } }],
        },
        `the Mcp-Param-${r.param.name} header is ${JSON.stringify(r.value)} but the body carries another ${where}`,
        r.value,
        `(not ${r.value})`,
      ),
      {
        name: `${server.name}/param/${i}`,
        stat_prefix: `${o.stat}__param_${i}`,
        match: modernOnly({ ...base, dynamic_metadata: [...base.dynamic_metadata, argIs(r)] }),
        route: {
          cluster: clusterName(r.server),
          prefix_rewrite: r.path,
          timeout: duration(r.timeoutMs ?? 0),
          idle_timeout: duration(o.idleTimeoutMs),
          retry_policy: o.retryPolicy(r.retry),
        },
        request_headers_to_add: toolRouteHeaders(r.tool),
        metadata: o.metadata,
      },
    );
  });
  return out;
}
