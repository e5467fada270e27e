// SourceState + learned tools + operator overrides → Catalog. Pure: the same
// inputs give the same catalog, so the same Envoy bytes and versions.

import { type ResolvedMeshAuth, resolveServerAuth } from './auth-resolution.js';
import type { Catalog, CatalogServer, Replica, ServerSpec, SourceState, ToolInfo } from './model.js';
import { addParamRoutes } from './param-route-resolution.js';
import { resolvePolicy, resolveToolRoutes } from './policy-resolution.js';
import type { RateLimitPolicy } from './policy-schema.js';

export interface CatalogOverrides {
  /** replicaKey()s of the replicas drained through the admin API. */
  readonly drained: ReadonlySet<string>;
}

/** A replica's key among every server's replicas (ids are unique within one server only). */
export function replicaKey(server: string, replicaId: string): string {
  return `${server}/${replicaId}`;
}

export const NO_OVERRIDES: CatalogOverrides = { drained: new Set() };

function withOverrides(server: ServerSpec, overrides: CatalogOverrides): Replica[] {
  return [...server.replicas]
    .map((r) => (overrides.drained.has(replicaKey(server.name, r.id)) ? { ...r, health: 'draining' as const } : r))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The catalog entry of each source entry, remembered by the entry's identity:
 * sources hand out the same ServerSpec object while a server is unchanged, so
 * a change to one server of a thousand rebuilds one entry, and the snapshot
 * builder can recognize the other entries by identity too.
 */
const built = new WeakMap<
  ServerSpec,
  {
    readonly tools: readonly ToolInfo[] | undefined;
    readonly drained: string;
    readonly meshAuth: string;
    /** The mesh-wide rate limit it was built with, by value (sources parse it afresh on every read). */
    readonly meshRateLimit: string;
    readonly server: CatalogServer;
  }
>();

function catalogServer(
  spec: ServerSpec,
  tools: readonly ToolInfo[] | undefined,
  overrides: CatalogOverrides,
  meshAuth: ResolvedMeshAuth | undefined,
  meshAuthKey: string,
  meshRateLimit: RateLimitPolicy | undefined,
): CatalogServer {
  const drained =
    overrides.drained.size === 0 ? '' : spec.replicas.map((r) => (overrides.drained.has(replicaKey(spec.name, r.id)) ? '1' : '0')).join('');
  const meshKey = meshRateLimit === undefined ? '' : `${meshRateLimit.requests}/${meshRateLimit.per}/${meshRateLimit.burst ?? ''}`;
  const hit = built.get(spec);
  if (hit !== undefined && hit.tools === tools && hit.drained === drained && hit.meshAuth === meshAuthKey && hit.meshRateLimit === meshKey)
    return hit.server;
  // The mesh-wide rate limit is the server's when its policy sets none.
  const explicit =
    spec.policy.rateLimit === undefined && meshRateLimit !== undefined ? { ...spec.policy, rateLimit: meshRateLimit } : spec.policy;
  const policy = resolvePolicy(explicit);
  const server: CatalogServer = {
    name: spec.name,
    path: spec.path,
    protocol: spec.protocol,
    tls: spec.tls,
    replicas: withOverrides(spec, overrides),
    policy,
    toolRoutes: resolveToolRoutes(explicit, policy, tools ?? []),
    auth: resolveServerAuth(spec.name, spec.policy.auth, meshAuth),
  };
  built.set(spec, { tools, drained, meshAuth: meshAuthKey, meshRateLimit: meshKey, server });
  return server;
}

export function buildCatalog(
  state: SourceState,
  tools: ReadonlyMap<string, readonly ToolInfo[]>,
  overrides: CatalogOverrides = NO_OVERRIDES,
  meshAuth?: ResolvedMeshAuth,
): Catalog {
  // Compared as text: sources parse the mesh settings anew on each read.
  const meshAuthKey = meshAuth === undefined ? '' : JSON.stringify(meshAuth);
  const servers: CatalogServer[] = [...state.servers.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((spec) => catalogServer(spec, tools.get(spec.name), overrides, meshAuth, meshAuthKey, state.mesh?.rateLimit));
  // Rules on Mcp-Param values name other servers: resolved once every server is built.
  const withParams = addParamRoutes(servers, state.servers, tools);
  return state.datacenters !== undefined && state.datacenters.length > 0
    ? { servers: withParams, datacenters: state.datacenters }
    : { servers: withParams };
}
