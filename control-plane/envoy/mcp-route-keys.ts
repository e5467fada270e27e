// How per-tool routes find their tool: routes match the `mcp-method` and
// `mcp-name` headers that 2026-07-28 clients send; for other clients a Lua
// filter derives them from the JSON-RPC body and clears the route cache.
//
// Why Lua: it can set request headers, so one set of header-matching routes
// serves both kinds of client. json_to_metadata only writes dynamic metadata
// (routes would need a second, metadata-matching copy of every tool route), and
// envoy.filters.http.mcp is still marked work in progress upstream, with no
// proto in the npm package this project takes Envoy's API from. The filter
// buffers only POST bodies of clients that did not send the headers; its cost
// is measured in bench/RESULTS.md.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LUA_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../../../filters/mcp-route-keys.lua');

let source: string | undefined;

export function mcpRouteKeyHttpFilters(): object[] {
  source ??= readFileSync(LUA_SOURCE, 'utf8');
  return [
    {
      name: 'envoy.filters.http.lua',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua',
        default_source_code: { inline_string: source },
      },
    },
  ];
}

export function toolRouteMatch(pathPrefix: string, method: string, name?: string): object {
  const headers: object[] = [{ name: 'mcp-method', string_match: { exact: method } }];
  if (name !== undefined) headers.push({ name: 'mcp-name', string_match: { exact: name } });
  return { path_separated_prefix: pathPrefix, headers };
}
