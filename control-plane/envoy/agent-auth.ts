// Agent identity at Envoy's listener: the filters that strip mesh identity
// headers a client sent, verify JWTs (envoy.filters.http.jwt_authn) and hand
// the verified claims to the upstream, the JWKS clusters, and the local-reply
// mappers that turn Envoy's own 401/403 answers into JSON-RPC errors with the
// RFC 9728 pointer. Which routes require which provider is per route
// (routes.ts, with routeAuthConfig below); the rules are tool-authorization.ts.
import { isIP } from 'node:net';
import { AGENT_IDENTITY_HEADER, agentClaimHeader, MESH_IDENTITY_HEADER_PREFIXES } from '../../lib/mesh-contracts.js';
import type { CatalogAuth, ResolvedMeshAuth } from '../catalog/auth-resolution.js';
import type { JwtProvider } from '../catalog/auth-schema.js';
import { ROUTE_METADATA_NAMESPACE } from './observability.js';
import { duration, type Json, struct, typedStruct } from './proto-values.js';

export const JWT_FILTER = 'envoy.filters.http.jwt_authn';
export const RBAC_FILTER = 'envoy.filters.http.rbac';
/** Where jwt_authn writes the verified payload (dynamic metadata of JWT_FILTER); the rules read it. */
export const JWT_PAYLOAD_KEY = 'jwt_payload';
/**
 * Verified tokens per provider and Envoy worker unless the provider says
 * otherwise: an agent fleet's live tokens, with room. An entry is the token
 * (at most 4 KiB, Envoy's default limit for caching) and its parsed claims.
 */
export const DEFAULT_TOKEN_CACHE = 1_000;
/** Where jwt_authn writes why a token was refused. */
const JWT_FAILURE_KEY = 'jwt_failure';
/** Route metadata key (namespace ROUTE_METADATA_NAMESPACE) holding the server's metadata URL for WWW-Authenticate. */
export const RESOURCE_METADATA_KEY = 'resource_metadata';

/** JSON-RPC error codes of the mesh's own refusals (server-defined range). */
export const UNAUTHORIZED_CODE = -32001;
export const FORBIDDEN_CODE = -32003;

/** The cluster Envoy fetches a provider's remote JWKS through. */
export function jwksClusterName(provider: string): string {
  return `jwks_${provider}`;
}

/**
 * Runs before every other filter: a header that only the mesh may set is
 * removed whatever the client sent (by prefix, so no spelling variant of a
 * claim header survives), and jwt_authn sets them again from a verified token.
 * `more`: further request mutations at the same place (trace-split.ts).
 */
export function identityHeaderStripFilter(more: readonly Json[] = []): object {
  return {
    name: 'envoy.filters.http.header_mutation',
    typed_config: typedStruct('type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation', {
      mutations: {
        request_mutations: [...MESH_IDENTITY_HEADER_PREFIXES.map((prefix) => ({ remove_on_match: { key_matcher: { prefix } } })), ...more],
      },
    }),
  };
}

function tokenCacheSize(p: JwtProvider): number {
  return p.tokenCache ?? DEFAULT_TOKEN_CACHE;
}

/**
 * The jwt_authn provider a server with rules requires: the same issuer, keys
 * and checks as `provider`, and the verified payload written as dynamic
 * metadata, which only the rules (tool-authorization.ts) and the list filter
 * read. Building that Struct costs Envoy about 6 µs per request (bench/RESULTS.md,
 * "Where JWT's CPU goes"), so servers without rules require the provider itself,
 * which leaves it out. Provider names have no dot (auth-schema.ts), so no
 * provider of the mesh can be named so.
 */
export function claimsProviderName(provider: string): string {
  return `${provider}.claims`;
}

/** The jwt_authn requirement of a server that requires tokens: the claims provider where rules read the claims. */
export function requirementName(auth: Extract<CatalogAuth, { mode: 'jwt' }>): string {
  return auth.rules === undefined ? auth.provider : claimsProviderName(auth.provider);
}

function providerConfig(name: string, p: JwtProvider, claimsInMetadata: boolean): object {
  const jwks =
    'file' in p.jwks
      ? { local_jwks: { filename: p.jwks.file } }
      : {
          remote_jwks: {
            http_uri: { uri: p.jwks.uri, cluster: jwksClusterName(name), timeout: duration(5_000) },
            cache_duration: duration(p.jwks.cacheDuration ?? 600_000),
            // Fetched when the listener starts, which does not wait for it (an
            // unreachable JWKS must not hold every other server's traffic);
            // until the keys arrive this provider's tokens are refused. A
            // failed fetch is retried every second.
            async_fetch: { fast_listener: true, failed_refetch_duration: duration(1_000) },
          },
        };
  return {
    issuer: p.issuer,
    audiences: p.audiences,
    ...jwks,
    // The token is for the mesh (its audience); upstreams get the verified claims instead.
    forward: false,
    ...(claimsInMetadata
      ? { payload_in_metadata: JWT_PAYLOAD_KEY, normalize_payload_in_metadata: { space_delimited_claims: ['scope'] } }
      : {}),
    failed_status_in_metadata: JWT_FAILURE_KEY,
    clock_skew_seconds: Math.floor((p.clockSkew ?? 60_000) / 1000),
    // An RS256 verify is most of jwt_authn's cost per request, and agents send
    // one token for many calls. A hit still has its exp/nbf checked (with the
    // skew above) before it counts, so a token that expires while cached is
    // refused. What a hit does not see: a signing key dropped from a remote
    // JWKS at its next fetch (docs/security.md, "Token cache").
    ...(tokenCacheSize(p) > 0 ? { jwt_cache_config: { jwt_cache_size: tokenCacheSize(p) } } : {}),
    claim_to_headers: [
      { header_name: AGENT_IDENTITY_HEADER, claim_name: 'sub' },
      ...(p.forwardClaims ?? []).map((c) => ({ header_name: agentClaimHeader(c), claim_name: c })),
    ],
  };
}

/**
 * jwt_authn with two requirements per provider, the provider and its claims
 * provider (claimsProviderName); routes pick theirs (routeAuthConfig). Routes
 * without one (the metadata documents) verify nothing. Both are always there,
 * so a server that gains or loses rules changes its routes only, never the
 * listener. Each keeps its own token cache (a token used on servers of both
 * kinds is verified once for each) and, for a remote JWKS, fetches the keys
 * itself.
 */
export function jwtAuthnFilter(auth: ResolvedMeshAuth): object {
  const providers = Object.keys(auth.providers)
    .sort()
    .flatMap((n) => [
      [n, providerConfig(n, auth.providers[n]!, false)] as const,
      [claimsProviderName(n), providerConfig(n, auth.providers[n]!, true)] as const,
    ]);
  return {
    name: JWT_FILTER,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers: Object.fromEntries(providers),
      requirement_map: Object.fromEntries(providers.map(([n]) => [n, { provider_name: n }])),
    },
  };
}

/**
 * RBAC without rules of its own, and off: every route of a server with rules
 * turns it on with that server's policies (tool-authorization.ts), so other
 * servers' requests do not even create it.
 */
export function rbacFilter(): object {
  return { name: RBAC_FILTER, disabled: true, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC' } };
}

function jsonRpcError(code: number, message: string, data: Record<string, string>): object {
  return { json_format: struct({ jsonrpc: '2.0', id: null, error: { code, message, data } }) };
}

const statusIs = (code: number) => ({
  status_code_filter: { comparison: { op: 'EQ', value: { default_value: code, runtime_key: 'mcpmesh.local_reply.unused' } } },
});

/**
 * Envoy's own refusals as JSON-RPC errors (a direct response cannot echo the
 * request's id, hence `id: null`). Every jwt_authn refusal is 401 with
 * WWW-Authenticate pointing at the route's protected-resource metadata; that
 * includes a token for another audience, which jwt_authn answers 403 (RFC 6750
 * calls it invalid_token). Any other local 403 here is an authorization rule's.
 */
export function authLocalReplyMappers(): object[] {
  const jwtFailed = {
    metadata_filter: {
      matcher: { filter: JWT_FILTER, path: [{ key: JWT_FAILURE_KEY }], value: { present_match: true } },
      // The default (true) would take every reply without a failure for one.
      match_if_key_not_found: { value: false },
    },
  };
  return [
    {
      filter: { or_filter: { filters: [statusIs(401), jwtFailed] } },
      status_code: { value: 401 },
      headers_to_add: [
        {
          header: {
            key: 'www-authenticate',
            value: `Bearer resource_metadata="%METADATA(ROUTE:${ROUTE_METADATA_NAMESPACE}:${RESOURCE_METADATA_KEY})%"`,
          },
          append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
        },
      ],
      body_format_override: jsonRpcError(UNAUTHORIZED_CODE, 'Unauthorized: %LOCAL_REPLY_BODY%', {
        server: `%METADATA(ROUTE:${ROUTE_METADATA_NAMESPACE}:server)%`,
      }),
    },
    {
      filter: statusIs(403),
      body_format_override: jsonRpcError(
        FORBIDDEN_CODE,
        `Forbidden: the authorization rules of server %METADATA(ROUTE:${ROUTE_METADATA_NAMESPACE}:server)% do not let this caller use %DYNAMIC_METADATA(mcpmesh:method)% "%DYNAMIC_METADATA(mcpmesh:name)%" (uri %DYNAMIC_METADATA(mcpmesh:uri)%)`,
        {
          server: `%METADATA(ROUTE:${ROUTE_METADATA_NAMESPACE}:server)%`,
          method: '%DYNAMIC_METADATA(mcpmesh:method)%',
          name: '%DYNAMIC_METADATA(mcpmesh:name)%',
          uri: '%DYNAMIC_METADATA(mcpmesh:uri)%',
          rule: '%RESPONSE_CODE_DETAILS%',
        },
      ),
    },
  ];
}

/** A route's jwt_authn choice: the server's requirement (requirementName), or nothing to verify. */
export function routeAuthConfig(auth: CatalogAuth): Record<string, object> {
  if (auth.mode !== 'jwt') return {};
  return {
    [JWT_FILTER]: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig',
      requirement_name: requirementName(auth),
    },
  };
}

/**
 * One cluster per provider with a remote JWKS: TLS that verifies the JWKS
 * server's certificate (the provider's caFile, else the control plane's
 * upstream CA) against the URL's host; no CA anywhere refuses every
 * certificate.
 */
export function jwksClusters(auth: ResolvedMeshAuth | undefined, defaultCaFile: string | undefined): { name: string; cluster: object }[] {
  if (auth === undefined) return [];
  const out: { name: string; cluster: object }[] = [];
  for (const name of Object.keys(auth.providers).sort()) {
    const jwks = auth.providers[name]!.jwks;
    if (!('uri' in jwks)) continue;
    const url = new URL(jwks.uri);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const ca = jwks.caFile ?? defaultCaFile;
    const ip = isIP(host) !== 0;
    const validation =
      ca === undefined
        ? { verify_certificate_hash: ['0'.repeat(64)] }
        : {
            trusted_ca: { filename: ca },
            match_typed_subject_alt_names: [{ san_type: ip ? 'IP_ADDRESS' : 'DNS', matcher: { exact: host } }],
          };
    out.push({
      name: jwksClusterName(name),
      cluster: {
        name: jwksClusterName(name),
        type: ip ? 'STATIC' : 'LOGICAL_DNS',
        connect_timeout: duration(2_000),
        dns_lookup_family: 'V4_PREFERRED',
        load_assignment: {
          cluster_name: jwksClusterName(name),
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
        },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            ...(ip ? {} : { sni: host }),
            common_tls_context: { validation_context: validation },
          },
        },
      },
    });
  }
  return out;
}
