// CatalogServer → Envoy Cluster (CDS). One EDS cluster per MCP server.
import { isIP } from 'node:net';
import { type SdsSecret, sdsSecretConfig, sdsSecretName } from '../../lib/envoy-sds.js';
import type { EffectiveLoadBalancing } from '../catalog/load-balancing.js';
import type { CatalogServer, Replica } from '../catalog/model.js';
import { balancedClusterName, clusterBalancing, zoned } from './load-balancing.js';
import { ADS_SOURCE, duration, struct, u32 } from './proto-values.js';

export function clusterName(server: string): string {
  return `mcp_${server}`;
}

/**
 * The server's cluster under one of its balancings (control-plane/envoy/load-balancing.ts):
 * every one of them takes the server's one ClusterLoadAssignment.
 */
export function buildCluster(
  server: CatalogServer,
  defaults: UpstreamTlsDefaults = {},
  lb: EffectiveLoadBalancing = server.policy.loadBalancing,
): object {
  const p = server.policy;
  const cluster: Record<string, unknown> = {
    name: balancedClusterName(server, lb),
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: clusterName(server.name) },
    connect_timeout: duration(p.connectTimeoutMs),
    ...clusterBalancing(lb, zoned(server)),
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
  if (server.tls) Object.assign(cluster, upstreamTls(server, defaults));
  return cluster;
}

// ---- upstream TLS ----

/** What the control plane verifies TLS upstreams with when a server's policy says nothing (--upstream-*). */
export interface UpstreamTlsDefaults {
  /** CA bundle (PEM) upstream certificates must chain to. */
  readonly caFile?: string;
  /** Client certificate and key Envoy presents (mTLS to adapters). */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /**
   * A directory Envoy reads SDS files from (lib/envoy-sds.ts): when set,
   * clusters name their certificate and CA files through file-based SDS, so
   * Envoy reloads rotated files; the control plane writes the SDS files there
   * (the directory is shared with Envoy). Unset: the files are named inline
   * and read when a cluster is built.
   */
  readonly sdsDir?: string;
}

/** Key in an endpoint's `envoy.transport_socket_match` metadata: the IP its certificate must carry. */
export const TLS_IP_MATCH_KEY = 'mcpmesh_tls_ip';

/**
 * Pinned to a hash no certificate has: a TLS server with no CA to verify
 * against refuses every certificate (fails closed) instead of accepting any.
 */
const REFUSE_EVERY_CERTIFICATE = '0'.repeat(64);

/** The name a TLS replica's certificate must carry. */
export function replicaTlsName(r: Replica): string {
  return r.tlsName ?? r.host;
}

/** Whether each replica's own IP is checked through a transport socket match (no `san` in the policy). */
export function matchesReplicaIps(server: CatalogServer): boolean {
  return server.tls && server.policy.tls?.insecureSkipVerify !== true && server.policy.tls?.san === undefined;
}

function sanMatcher(name: string): object {
  return { san_type: isIP(name) !== 0 ? 'IP_ADDRESS' : 'DNS', matcher: { exact: name } };
}

function tlsSocket(common: object, context: object): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: common,
      ...context,
    },
  };
}

/**
 * The cluster's transport socket(s). Every certificate is verified against the
 * CA and a SAN unless the policy says `insecureSkipVerify: true`:
 *  - `tls.san` given: any of those names;
 *  - otherwise each replica's own name: a DNS name through Envoy's
 *    `auto_host_sni` (SNI = the endpoint's hostname) and `auto_sni_san_validation`
 *    (a DNS SAN = that SNI); an IP, which SNI cannot carry and a DNS SAN does
 *    not match, through a transport socket match per IP with an IP SAN matcher.
 * The files are read by Envoy, from its own file system.
 */
/** The certificate files a TLS server's clusters use: its policy's, else the control plane's. */
export function upstreamTlsFiles(server: CatalogServer, defaults: UpstreamTlsDefaults): { cert?: SdsSecret; ca?: SdsSecret } {
  const t = server.policy.tls ?? {};
  const cert =
    t.clientCertFile !== undefined
      ? { cert: t.clientCertFile, key: t.clientKeyFile! }
      : defaults.clientCertFile !== undefined && defaults.clientKeyFile !== undefined
        ? { cert: defaults.clientCertFile, key: defaults.clientKeyFile }
        : undefined;
  const ca = t.insecureSkipVerify === true ? undefined : (t.caFile ?? defaults.caFile);
  return {
    ...(cert ? { cert: { kind: 'certificate', certFile: cert.cert, keyFile: cert.key } as const } : {}),
    ...(ca !== undefined ? { ca: { kind: 'ca', caFile: ca } as const } : {}),
  };
}

/** Every SDS file the catalog's clusters name (empty without an SDS directory). */
export function upstreamSdsSecrets(servers: readonly CatalogServer[], defaults: UpstreamTlsDefaults): SdsSecret[] {
  if (defaults.sdsDir === undefined) return [];
  const out = new Map<string, SdsSecret>();
  for (const server of servers) {
    if (!server.tls) continue;
    const files = upstreamTlsFiles(server, defaults);
    for (const secret of [files.cert, files.ca]) if (secret) out.set(sdsSecretName(secret), secret);
  }
  return [...out.values()];
}

export function upstreamTls(server: CatalogServer, defaults: UpstreamTlsDefaults): Record<string, unknown> {
  const t = server.policy.tls ?? {};
  const files = upstreamTlsFiles(server, defaults);
  const dir = defaults.sdsDir;
  const cert = files.cert?.kind === 'certificate' ? files.cert : undefined;
  const certificates = cert
    ? dir !== undefined
      ? { tls_certificate_sds_secret_configs: [sdsSecretConfig(dir, cert)] }
      : { tls_certificates: [{ certificate_chain: { filename: cert.certFile }, private_key: { filename: cert.keyFile } }] }
    : {};
  const sni = t.sni !== undefined ? { sni: t.sni } : { auto_host_sni: true };
  if (t.insecureSkipVerify === true) return { transport_socket: tlsSocket(certificates, sni) };
  const ca = files.ca?.kind === 'ca' ? files.ca : undefined;
  const sanMatch = (sans?: readonly string[]) => (sans ? { match_typed_subject_alt_names: sans.map(sanMatcher) } : {});
  const validation = (sans?: readonly string[]) =>
    ca === undefined
      ? { validation_context: { verify_certificate_hash: [REFUSE_EVERY_CERTIFICATE] } }
      : dir !== undefined
        ? // The SAN rules stay in the cluster; the CA comes through SDS.
          {
            combined_validation_context: {
              default_validation_context: sanMatch(sans),
              validation_context_sds_secret_config: sdsSecretConfig(dir, ca),
            },
          }
        : { validation_context: { trusted_ca: { filename: ca.caFile }, ...sanMatch(sans) } };
  if (t.san !== undefined) return { transport_socket: tlsSocket({ ...certificates, ...validation(t.san) }, sni) };
  const ips = [...new Set(server.replicas.map(replicaTlsName).filter((n) => isIP(n) !== 0))].sort();
  return {
    transport_socket: tlsSocket({ ...certificates, ...validation() }, { ...sni, auto_sni_san_validation: true }),
    ...(ips.length > 0
      ? {
          transport_socket_matches: ips.map((ip) => ({
            name: `ip-${ip}`,
            match: struct({ [TLS_IP_MATCH_KEY]: ip }),
            transport_socket: tlsSocket({ ...certificates, ...validation([ip]) }, t.sni !== undefined ? { sni: t.sni } : {}),
          })),
        }
      : {}),
  };
}
