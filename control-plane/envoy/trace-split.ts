// Sampled requests through a second connection manager. Envoy's OpenTelemetry
// tracer builds a span for every request of a connection manager that traces,
// sampled or not (bench/RESULTS.md, "Sampled requests through a second
// connection manager"). Below 100%, the listener agents connect to does not
// trace: its first routes send the requests to be traced to an internal
// listener (envoy.bootstrap.internal_listener) whose connection manager has
// the tracer, the same filters and the mesh's routes; every other request
// takes the mesh's routes there and then, untraced. At 100% every request
// would take both passes, which costs more than the one traced connection
// manager: there is none of this then.
import { UNTRACED_TRACEPARENT } from '../../lib/mesh-contracts.js';
import type { Observability } from '../catalog/mesh-schema.js';
import { duration, type Json } from './proto-values.js';

type Tracing = NonNullable<Observability['tracing']>;

export const TRACED_LISTENER_NAME = 'mcp_egress_traced';
/** The cluster whose one endpoint is the traced internal listener. */
export const TRACED_HOP_CLUSTER = 'mcpmesh_traced_hop';

/**
 * A traceparent whose flags (its last two hex digits) have the sampled bit.
 * Envoy's RE2 program limit refuses a regex that spells every field out; a
 * header that matches and is no context goes to the tracer, which gives it no
 * span, as it does today.
 */
export const SAMPLED_TRACEPARENT_REGEX = '.*-[0-9a-f][13579bdf]';

/**
 * Set by the split route for what it sampled, read by the traced connection
 * manager's `client_sampling` (Envoy's default: 100%): Envoy then traces the
 * request whatever its random_sampling says. Envoy ignores an
 * x-envoy-force-trace arriving on the internal listener.
 */
const CLIENT_TRACE_ID_HEADER = 'x-client-trace-id';

const STATEFUL_SESSION_FILTER = 'envoy.filters.http.stateful_session';
const ROUTE_KEY_FILTER = 'envoy.filters.http.json_to_metadata';

/** Below 100%: the listener agents connect to does not trace, the traced internal listener does. */
export function splitsTracing(tracing: Tracing | undefined): tracing is Tracing {
  return tracing !== undefined && tracing.sampling < 100;
}

/**
 * The outer connection manager's first routes. No per-route filter config
 * (JWT requirement, RBAC, rate limit, list filter): those are on the mesh's
 * routes and so run on the traced pass only. The stateful session and the
 * route keys are off here: the traced pass decodes the session and writes
 * the answer's envelope with the replica's address, and reads the body. No
 * retries: the traced pass retries to the replicas.
 * `sampling`: the mesh's percent.
 */
export function tracedHopRoutes(sampling: number): object[] {
  const common = {
    route: { cluster: TRACED_HOP_CLUSTER, timeout: duration(0) },
    typed_per_filter_config: {
      [STATEFUL_SESSION_FILTER]: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute',
        disabled: true,
      },
      // The traced pass reads the body's route keys; here the body only passes through, so an
      // answer Envoy makes about the body (a 413) comes from the traced pass, which logs it.
      [ROUTE_KEY_FILTER]: { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', disabled: true },
    },
  };
  return [
    // An agent's sampled context: the tracer decides at the mesh's percentage, keeps the agent's span as the parent.
    {
      name: 'traced/agent-context',
      match: { prefix: '/', headers: [{ name: 'traceparent', string_match: { safe_regex: { regex: SAMPLED_TRACEPARENT_REGEX } } }] },
      ...common,
    },
    // The mesh's percentage of the requests that came without a context, drawn per stream.
    {
      name: 'traced/sampled',
      match: {
        prefix: '/',
        headers: [{ name: 'traceparent', string_match: { exact: UNTRACED_TRACEPARENT } }],
        runtime_fraction: {
          default_value: { numerator: Math.round(sampling * 10_000), denominator: 'MILLION' },
          runtime_key: 'mcpmesh.tracing.sampling',
        },
      },
      request_headers_to_remove: ['traceparent'],
      request_headers_to_add: [{ header: { key: CLIENT_TRACE_ID_HEADER, value: 'mcpmesh' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      ...common,
    },
  ];
}

/**
 * Added to the outer listener's identity strip: no agent forces a trace, and a
 * request without a context gets UNTRACED_TRACEPARENT, so that an adapter with
 * root sampling of its own (what `mcpmesh up` starts) follows "not sampled",
 * as it followed the `-00` of Envoy's unsampled span, instead of deciding again.
 */
export function untracedContextMutations(): Json[] {
  return [
    { remove: CLIENT_TRACE_ID_HEADER },
    { append: { header: { key: 'traceparent', value: UNTRACED_TRACEPARENT }, append_action: 'ADD_IF_ABSENT' } },
  ];
}

/** The outer listener's access log leaves out what the traced pass logs (the routes above, by the headers they leave). */
export function untracedAccessLogFilter(): object {
  return {
    and_filter: {
      filters: [
        {
          header_filter: {
            header: { name: 'traceparent', string_match: { safe_regex: { regex: SAMPLED_TRACEPARENT_REGEX } }, invert_match: true },
          },
        },
        { header_filter: { header: { name: CLIENT_TRACE_ID_HEADER, present_match: true, invert_match: true } } },
      ],
    },
  };
}

/** The traced pass's connection manager: Envoy's tracer as the mesh has it, and the split route's mark honoured. */
export function tracedHopTracing(tracingBlock: object): object {
  return { ...tracingBlock, client_sampling: { value: 100 } };
}

/** The cluster of the traced internal listener. */
export function tracedHopCluster(): object {
  return {
    name: TRACED_HOP_CLUSTER,
    type: 'STATIC',
    connect_timeout: duration(1_000),
    load_assignment: {
      cluster_name: TRACED_HOP_CLUSTER,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: TRACED_LISTENER_NAME } } } }] },
      ],
    },
    transport_socket: {
      name: 'envoy.transport_sockets.internal_upstream',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport',
        transport_socket: {
          name: 'envoy.transport_sockets.raw_buffer',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
        },
      },
    },
  };
}
