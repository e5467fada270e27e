// CatalogServer → Envoy Cluster (CDS). One EDS cluster per MCP server.
import type { CatalogServer } from '../catalog/model.js';
import { ADS_SOURCE, duration, u32 } from './proto-values.js';

export function clusterName(server: string): string {
  return `mcp_${server}`;
}

export function buildCluster(server: CatalogServer): object {
  const p = server.policy;
  const cluster: Record<string, unknown> = {
    name: clusterName(server.name),
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: clusterName(server.name) },
    connect_timeout: duration(p.connectTimeoutMs),
    // Tool calls vary from microseconds to minutes; least-request keeps a slow
    // replica from accumulating a queue the way round-robin would.
    lb_policy: 'LEAST_REQUEST',
    least_request_lb_config: { choice_count: u32(2) },
    common_lb_config: {
      // Endpoints that are all unhealthy still get traffic (panic mode) at 0%:
      // fail fast and let retries/outlier detection act instead.
      healthy_panic_threshold: { value: 0 },
    },
    outlier_detection: {
      consecutive_5xx: u32(p.outlier.consecutive5xx),
      consecutive_gateway_failure: u32(p.outlier.consecutiveGatewayFailure),
      // Envoy's default enforcement for gateway failures is 0% (off).
      enforcing_consecutive_gateway_failure: u32(100),
      enforcing_consecutive_5xx: u32(100),
      // Connect failures and resets count as local-origin errors, so a dead
      // replica is ejected after a couple of refused connections.
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: u32(p.outlier.consecutiveLocalOriginFailure),
      enforcing_consecutive_local_origin_failure: u32(100),
      interval: duration(p.outlier.intervalMs),
      base_ejection_time: duration(p.outlier.baseEjectionTimeMs),
      max_ejection_time: duration(p.outlier.maxEjectionTimeMs),
      // Envoy's default (10%) would never eject one replica out of three.
      max_ejection_percent: u32(p.outlier.maxEjectionPercent),
      enforcing_success_rate: u32(0),
      enforcing_failure_percentage: u32(0),
      enforcing_failure_percentage_local_origin: u32(0),
    },
    circuit_breakers: {
      thresholds: [
        {
          priority: 'DEFAULT',
          max_connections: u32(p.circuitBreaker.maxConnections),
          max_pending_requests: u32(p.circuitBreaker.maxPendingRequests),
          max_requests: u32(p.circuitBreaker.maxRequests),
          // A retry budget bounds retries relative to active requests, so a
          // failing cluster cannot be buried under its own retries.
          retry_budget: {
            budget_percent: { value: p.circuitBreaker.retryBudgetPercent },
            min_retry_concurrency: u32(p.circuitBreaker.minRetryConcurrency),
          },
          track_remaining: true,
        },
      ],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: duration(60_000) },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
    ignore_health_on_host_removal: true,
  };
  if (p.healthCheck) {
    cluster['health_checks'] = [
      {
        timeout: duration(p.healthCheck.timeoutMs),
        interval: duration(p.healthCheck.intervalMs),
        interval_jitter: duration(Math.min(500, Math.floor(p.healthCheck.intervalMs / 4))),
        unhealthy_threshold: u32(p.healthCheck.unhealthyThreshold),
        healthy_threshold: u32(p.healthCheck.healthyThreshold),
        no_traffic_interval: duration(Math.max(p.healthCheck.intervalMs, 5_000)),
        http_health_check: { path: p.healthCheck.path },
        // An ejected or newly added host is checked at once, not after an interval.
        always_log_health_check_failures: false,
      },
    ];
  }
  if (server.tls) {
    cluster['transport_socket'] = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: server.replicas[0]?.host ?? '',
      },
    };
  }
  return cluster;
}
