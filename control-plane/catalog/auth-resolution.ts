// A server's `auth` policy resolved against the mesh's providers: whether it
// requires a token, from which provider, its rules, and the RFC 9728
// protected-resource metadata the mesh serves for it. Pure.
import { agentPath } from '../../lib/mesh-contracts.js';
import type { AuthRule, MeshAuth, ServerAuth } from './auth-schema.js';

/** The mesh's auth settings with the listener's public URL filled in. */
export interface ResolvedMeshAuth extends MeshAuth {
  /** Base of every `resource` (no trailing slash). */
  readonly resourceBaseUrl: string;
}

/** RFC 9728 protected-resource metadata, as served at the well-known path. */
export interface ResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly bearer_methods_supported: readonly string[];
}

export type CatalogAuth =
  /** No token is asked for. */
  | { readonly mode: 'open' }
  | {
      readonly mode: 'jwt';
      readonly provider: string;
      /** Absent: every verified caller may use everything. */
      readonly rules: readonly AuthRule[] | undefined;
      readonly metadata: ResourceMetadata;
      /** Where the metadata is served: what WWW-Authenticate points to. */
      readonly metadataUrl: string;
      /** A policy the mesh overrode (for the control plane's log). */
      readonly warning?: string;
    }
  /** The policy cannot be enforced (an unknown provider): every request is refused. */
  | { readonly mode: 'refused'; readonly reason: string };

export const OPEN: CatalogAuth = { mode: 'open' };

/** The well-known path of a server's protected-resource metadata (RFC 9728 §3.1: inserted before the resource's path). */
export function resourceMetadataPath(server: string): string {
  return `/.well-known/oauth-protected-resource${agentPath(server)}`;
}

export function resolveMeshAuth(auth: MeshAuth | undefined, listener: { address: string; port: number }): ResolvedMeshAuth | undefined {
  if (auth === undefined) return undefined;
  const host = listener.address.includes(':') ? `[${listener.address}]` : listener.address;
  const base = auth.resourceBaseUrl ?? `http://${host}:${listener.port}`;
  return { ...auth, resourceBaseUrl: base.replace(/\/+$/, '') };
}

function scopesOf(rules: readonly AuthRule[] | undefined): string[] {
  return [...new Set((rules ?? []).flatMap((r) => r.when?.scopes ?? []))].sort();
}

export function resolveServerAuth(server: string, policy: ServerAuth | undefined, mesh: ResolvedMeshAuth | undefined): CatalogAuth {
  let provider = policy?.provider;
  let warning: string | undefined;
  if (provider === undefined && policy?.required === false) {
    if (mesh?.default === undefined || mesh.allowOptOut === true) return OPEN;
    // Failing closed: the server keeps the default provider rather than opening up.
    warning = `auth.required: false ignored: the mesh's auth.allowOptOut is not true, so the server requires "${mesh.default}" tokens`;
  }
  provider ??= mesh?.default;
  if (provider === undefined) {
    if (policy?.required === true || policy?.rules !== undefined)
      return { mode: 'refused', reason: 'the policy requires tokens but the mesh has no default provider and the policy names none' };
    return OPEN;
  }
  const p = mesh?.providers[provider];
  if (p === undefined || mesh === undefined)
    return { mode: 'refused', reason: `the policy names provider "${provider}", which the mesh's auth.providers lacks` };
  const path = agentPath(server);
  return {
    mode: 'jwt',
    provider,
    rules: policy?.rules,
    metadata: {
      resource: `${mesh.resourceBaseUrl}${path}`,
      authorization_servers: p.authorizationServers ?? [p.issuer],
      scopes_supported: policy?.scopes ?? scopesOf(policy?.rules),
      bearer_methods_supported: ['header'],
    },
    metadataUrl: `${mesh.resourceBaseUrl}${resourceMetadataPath(server)}`,
    ...(warning !== undefined ? { warning } : {}),
  };
}
