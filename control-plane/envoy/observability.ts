// Mesh-wide observability → Envoy: the HTTP connection manager's OpenTelemetry
// tracer (with the cluster it exports to) and its JSON access log.

import { isIP } from 'node:net';
import { AGENT_IDENTITY_HEADER } from '../../lib/mesh-contracts.js';
import type { Observability } from '../catalog/mesh-schema.js';
import { ROUTE_KEY_NAMESPACE } from './mcp-route-keys.js';
import { duration, struct } from './proto-values.js';

/** The CDS cluster of the OTLP collector, present while tracing is on. */
export const COLLECTOR_CLUSTER = 'mcpmesh_otlp_collector';

/** Route metadata namespace: each route names its server (the access log's `server`). */
export const ROUTE_METADATA_NAMESPACE = 'mcpmesh';

const OTLP_TRACES_PATH = '/v1/traces';

interface CollectorAddress {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

function collectorAddress(collector: string): CollectorAddress {
  const url = new URL(collector);
  const tls = url.protocol === 'https:';
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : tls ? 443 : 80, tls };
}

/** The HCM `tracing` block: Envoy's OpenTelemetry tracer posting OTLP/HTTP protobuf to the collector. */
export function tracingConfig(tracing: NonNullable<Observability['tracing']>): object {
  return {
    // Envoy decides for every request, an agent's sampled traceparent included
    // (it keeps the agent's trace id and parent, and sends `-00` upstream when
    // not sampled, which the adapters follow); an agent's `-00` is never
    // sampled, whatever the percent.
    random_sampling: { value: tracing.sampling },
    // One span per try of the request upstream, below the request's own span:
    // a retried call shows each try, also one that never reached an adapter.
    // Off, each try's adapter span hangs from the request span and Envoy
    // records one span per traced call (bench/RESULTS.md has what that saves).
    spawn_upstream_span: { value: tracing.upstreamSpans },
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
        http_service: {
          http_uri: { uri: `${tracing.collector}${OTLP_TRACES_PATH}`, cluster: COLLECTOR_CLUSTER, timeout: duration(1_000) },
        },
        service_name: tracing.serviceName,
      },
    },
  };
}

/** The collector as a cluster of its own (no EDS: its address comes with it). */
export function collectorCluster(tracing: NonNullable<Observability['tracing']>): object {
  const a = collectorAddress(tracing.collector);
  const cluster: Record<string, unknown> = {
    name: COLLECTOR_CLUSTER,
    type: isIP(a.host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: duration(1_000),
    load_assignment: {
      cluster_name: COLLECTOR_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: a.host, port_value: a.port } } } }] }],
    },
  };
  if (a.tls) {
    cluster['transport_socket'] = {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: a.host },
    };
  }
  return cluster;
}

/**
 * One JSON line per request (docs/observability.md lists the fields). A field
 * that is one command operator keeps its type (numbers stay numbers); a value
 * Envoy does not have is null.
 */
export const ACCESS_LOG_FIELDS = {
  time: '%START_TIME%',
  agent: `%REQ(${AGENT_IDENTITY_HEADER})%`,
  server: `%METADATA(ROUTE:${ROUTE_METADATA_NAMESPACE}:server)%`,
  // The body's own method and name, as the routes read them (headers may lie, or be absent).
  method: `%DYNAMIC_METADATA(${ROUTE_KEY_NAMESPACE}:method)%`,
  tool: `%DYNAMIC_METADATA(${ROUTE_KEY_NAMESPACE}:name)%`,
  route: '%ROUTE_NAME%',
  http_method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  attempts: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration_ms: '%DURATION%',
  upstream_service_time_ms: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  retryable: '%RESP(X-MCPMESH-RETRYABLE)%',
  trace_id: '%TRACE_ID%',
  request_id: '%REQ(X-REQUEST-ID)%',
} as const;

const LOG_PATHS: Record<string, string> = { stdout: '/dev/stdout', stderr: '/dev/stderr' };

/**
 * The HCM `access_log` list: a file logger (stdout, stderr or a path), sampled
 * when asked; `only`: an access log filter the line must also pass.
 */
export function accessLogConfig(log: NonNullable<Observability['accessLog']>, only?: object): object[] {
  const logger: Record<string, unknown> = {
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path: LOG_PATHS[log.path] ?? log.path,
      log_format: { json_format: struct(ACCESS_LOG_FIELDS) },
    },
  };
  const filters: object[] = only ? [only] : [];
  if (log.sampling < 100) {
    filters.push({
      runtime_filter: {
        runtime_key: 'mcpmesh.access_log.sampling',
        // Parts per million: 0.01% is 100.
        percent_sampled: { numerator: Math.round(log.sampling * 10_000), denominator: 'MILLION' },
        use_independent_randomness: true,
      },
    });
  }
  if (filters.length === 1) logger['filter'] = filters[0];
  if (filters.length > 1) logger['filter'] = { and_filter: { filters } };
  return [logger];
}
