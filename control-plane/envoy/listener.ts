// The agent-facing egress listener (LDS): HTTP connection manager with the
// identity filters (agent-auth.ts), the MCP route-key filters, 2025-era session
// affinity, and the router; and, while tracing is on below 100%, the traced
// internal listener behind it (trace-split.ts).
import type { ResolvedMeshAuth } from '../catalog/auth-resolution.js';
import type { Observability } from '../catalog/mesh-schema.js';
import { authLocalReplyMappers, identityHeaderStripFilter, jwtAuthnFilter, rbacFilter } from './agent-auth.js';
import { listFilterHttpFilter, serverNameFilter } from './list-filtering.js';
import { defaultLocalReplyRules, localReplyConfig } from './local-replies.js';
import { mcpRouteKeyHttpFilters } from './mcp-route-keys.js';
import { accessLogConfig, tracingConfig } from './observability.js';
import { argumentMetadataRules } from './param-routes.js';
import { ADS_SOURCE, duration, typedStruct } from './proto-values.js';
import { rateLimitHttpFilter, rateLimitLocalReplyMapper } from './rate-limits.js';
import { MAX_REQUEST_BODY_BYTES, ROUTE_CONFIG_NAME, TRACED_ROUTE_CONFIG_NAME } from './routes.js';
import { splitsTracing, TRACED_LISTENER_NAME, tracedHopTracing, untracedAccessLogFilter, untracedContextMutations } from './trace-split.js';

export const LISTENER_NAME = 'mcp_egress';
export const SESSION_HEADER = 'mcp-session-id';

export interface ListenerOptions {
  readonly address: string;
  readonly port: number;
  /** Mesh-wide tracing and access log; absent or empty: neither. */
  readonly observability?: Observability;
  /** Top-level tools/call arguments some route hashes on (load-balancing.ts). */
  readonly hashArguments?: readonly string[];
  /** JWT providers (the mesh's `auth`); absent: no token is verified anywhere. */
  readonly auth?: ResolvedMeshAuth;
  /** Tool arguments routes match on (param-routes.ts); absent: none. */
  readonly routedArguments?: readonly (readonly string[])[];
}

/**
 * Envelope mode wraps the server's own Mcp-Session-Id with the chosen host and
 * restores it upstream; header mode would overwrite the server's session id.
 * Not strict, and the default override_host_status: when the session's replica
 * is ejected, draining, failing its health check or gone, the request goes to
 * the load balancer. An mcpmesh adapter there takes the session over (its ids
 * are portable between replicas of a server) and sends Mcp-Session-Id back,
 * which pins the session to it; another server answers 404, which tells the
 * client to start a new session. Retries are never pinned (previous_hosts).
 */
function statefulSessionFilter(): object {
  return {
    name: 'envoy.filters.http.stateful_session',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession',
      session_state: {
        name: 'envoy.http.stateful_session.envelope',
        typed_config: typedStruct('type.googleapis.com/envoy.extensions.http.stateful_session.envelope.v3.EnvelopeSessionState', {
          header: { name: SESSION_HEADER },
        }),
      },
      strict: false,
    },
  };
}

/** The listener agents connect to. */
export function buildListener(opts: ListenerOptions): object {
  return {
    name: LISTENER_NAME,
    address: { socket_address: { address: opts.address, port_value: opts.port } },
    filter_chains: [{ filters: [connectionManager(opts, 'edge')] }],
  };
}

/**
 * The internal listener the requests to be traced take (trace-split.ts),
 * present while tracing is on below 100%: the same filters and routes as the
 * listener agents connect to, and Envoy's tracer.
 */
export function buildTracedListener(opts: ListenerOptions): object {
  return {
    name: TRACED_LISTENER_NAME,
    internal_listener: {},
    filter_chains: [{ filters: [connectionManager(opts, 'traced')] }],
  };
}

/**
 * 'edge': the connection manager agents reach; with the split, it does not
 * trace. 'traced': the traced pass behind it, reached from the edge only.
 */
function connectionManager(opts: ListenerOptions, role: 'edge' | 'traced'): object {
  const split = splitsTracing(opts.observability?.tracing);
  const name = role === 'edge' ? LISTENER_NAME : TRACED_LISTENER_NAME;
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: name,
      codec_type: 'AUTO',
      rds: { config_source: ADS_SOURCE, route_config_name: role === 'edge' ? ROUTE_CONFIG_NAME : TRACED_ROUTE_CONFIG_NAME },
      // Identity headers go first, so nothing reads one a client sent;
      // tokens are checked before bodies are buffered; the rules need
      // both the verified claims and the body's route keys.
      http_filters: [
        identityHeaderStripFilter(role === 'edge' && split ? untracedContextMutations() : []),
        ...(opts.auth ? [jwtAuthnFilter(opts.auth)] : []),
        ...mcpRouteKeyHttpFilters(opts.hashArguments, argumentMetadataRules(opts.routedArguments ?? [])),
        ...(opts.auth ? [rbacFilter(), serverNameFilter(), listFilterHttpFilter()] : []),
        // After the rules: a refused request takes no token.
        rateLimitHttpFilter(),
        statefulSessionFilter(),
        {
          name: 'envoy.filters.http.router',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
        },
      ],
      // Streams (SSE, the GET stream) live long; idle streams are the
      // ones to cut, and routes set their own idle timeout.
      stream_idle_timeout: duration(300_000),
      request_headers_timeout: duration(10_000),
      common_http_protocol_options: { idle_timeout: duration(3_600_000) },
      normalize_path: { value: true },
      merge_slashes: true,
      // Envoy's own answers (a body over the buffer limit; with auth, the
      // 401 and 403 of agent-auth.ts, first; a rate limit's 429) in JSON-RPC.
      local_reply_config: localReplyConfig(defaultLocalReplyRules(MAX_REQUEST_BODY_BYTES), opts.auth ? authLocalReplyMappers() : [], [
        rateLimitLocalReplyMapper(),
      ]),
      ...observabilityFields(opts.observability, role, split),
      // Agents connect to the edge directly: X-Forwarded-For gets the
      // peer's address appended as its last hop, which adapters started
      // with --trust-forwarded-for count their session limits by (an
      // agent's own X-Forwarded-For entries come before it and are not).
      // The traced pass leaves it as the edge made it.
      ...(role === 'edge' ? { use_remote_address: { value: true }, xff_num_trusted_hops: 0 } : {}),
    },
  };
}

/**
 * The HCM's tracing block and access log, when configured
 * (control-plane/envoy/observability.ts). With the split, the edge has no
 * tracer and logs what it routed itself; the traced pass logs the rest.
 */
function observabilityFields(o: Observability | undefined, role: 'edge' | 'traced', split: boolean): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (o?.tracing && !(split && role === 'edge')) {
    fields['tracing'] = role === 'traced' ? tracedHopTracing(tracingConfig(o.tracing)) : tracingConfig(o.tracing);
  }
  if (o?.accessLog) fields['access_log'] = accessLogConfig(o.accessLog, split && role === 'edge' ? untracedAccessLogFilter() : undefined);
  return fields;
}
