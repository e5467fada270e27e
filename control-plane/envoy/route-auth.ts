// A server's auth on its routes: each route gets the server's jwt_authn
// requirement and the RBAC policies its match can need (tool-authorization.ts),
// and on a server with rules the list filter (list-filtering.ts);
// servers that require tokens get the route serving their RFC 9728 metadata
// document; a server whose auth cannot be enforced gets one refusing route.
// Pure.
import { agentPath } from '../../lib/mesh-contracts.js';
import { resourceMetadataPath } from '../catalog/auth-resolution.js';
import type { CatalogServer } from '../catalog/model.js';
import { RESOURCE_METADATA_KEY, routeAuthConfig } from './agent-auth.js';
import { filtersLists, listFilterOn } from './list-filtering.js';
import { ROUTE_METADATA_NAMESPACE } from './observability.js';
import { struct } from './proto-values.js';
import { type RbacScope, serverRbac } from './tool-authorization.js';
import { isToolCallHeaderRoute } from './tool-call-header-route.js';

const JSON_CONTENT = { header: { key: 'content-type', value: 'application/json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };

/**
 * The route metadata the access log (`server`) and the mesh's own error
 * answers (the 401's WWW-Authenticate) read: %METADATA(ROUTE:mcpmesh:…)%.
 */
export function routeMetadata(server: CatalogServer): object {
  const fields: Record<string, string> = { server: server.name };
  if (server.auth.mode === 'jwt') fields[RESOURCE_METADATA_KEY] = server.auth.metadataUrl;
  return { filter_metadata: { [ROUTE_METADATA_NAMESPACE]: struct(fields) } };
}

/** The routes that need fewer than all of the server's DENY policies (see RbacScope), by route name. */
function rbacScopes(server: CatalogServer): Map<string, RbacScope> {
  const n = server.name;
  const scopes = new Map<string, RbacScope>([
    [`${n}/default`, { kind: 'no-method' }],
    [`${n}/get-delete`, { kind: 'none' }],
    [`${n}/lists`, { kind: 'none' }],
    [`${n}/lists/2026`, { kind: 'none' }],
  ]);
  for (const t of server.toolRoutes) {
    scopes.set(`${n}/tool/${t.tool}`, { kind: 'tool', tool: t.tool });
    scopes.set(`${n}/header-mismatch/tool/${t.tool}`, { kind: 'tool', tool: t.tool });
  }
  return scopes;
}

/** The server's traffic routes with its auth, and its metadata route first when it requires tokens. */
export function withAuth(server: CatalogServer, routes: readonly object[]): object[] {
  const auth = server.auth;
  const jwt = routeAuthConfig(auth);
  const rbac = serverRbac(server.name, auth);
  const scopes = rbacScopes(server);
  const lists = filtersLists(auth);
  const out = routes.map((r) => {
    const { name, match, typed_per_filter_config: own } = r as { name: string; match: object; typed_per_filter_config?: object };
    const merged = { ...jwt, ...rbac(scopes.get(name) ?? { kind: 'all' }), ...own };
    const perFilter = lists && !isToolCallHeaderRoute(name) ? listFilterOn(match, merged) : merged;
    return Object.keys(perFilter).length === 0 ? r : { ...r, typed_per_filter_config: perFilter };
  });
  if (auth.mode !== 'jwt') return out;
  // RFC 9728's document, served by Envoy itself; it needs no token.
  const metadataRoute = {
    name: `${server.name}/resource-metadata`,
    match: { path: resourceMetadataPath(server.name) },
    direct_response: { status: 200, body: { inline_string: JSON.stringify(auth.metadata) } },
    response_headers_to_add: [
      JSON_CONTENT,
      { header: { key: 'cache-control', value: 'max-age=300' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ],
    metadata: routeMetadata(server),
  };
  return [metadataRoute, ...out];
}

/** A server whose auth policy cannot be enforced serves nothing (fail closed) and says why. */
export function refusedRoute(server: CatalogServer, reason: string, statPrefix: string): object {
  return {
    name: `${server.name}/auth-refused`,
    stat_prefix: statPrefix,
    match: { path_separated_prefix: agentPath(server.name) },
    direct_response: {
      status: 503,
      body: {
        inline_string: JSON.stringify({
          jsonrpc: '2.0',
          id: null,
          error: {
            code: -32603,
            message: `Service Unavailable: the mesh cannot enforce the auth policy of server ${server.name}: ${reason}`,
          },
        }),
      },
    },
    response_headers_to_add: [JSON_CONTENT],
    metadata: routeMetadata(server),
  };
}
