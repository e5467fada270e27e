// Envoy's bootstrap: everything but the admin endpoint and the way back to the
// control plane comes over ADS.
import { isIP } from 'node:net';
import { stringify } from 'yaml';
import { type SdsSecret, sdsSecretConfig } from '../lib/envoy-sds.js';
import { DEFAULT_PORTS, XDS_CLUSTER } from '../lib/mesh-contracts.js';
import { type EnvoyLocality, localClusterConfig, nodeLocality } from './bootstrap-locality.js';

export interface BootstrapOptions {
  readonly nodeId: string;
  readonly cluster?: string;
  readonly xdsHost?: string;
  readonly xdsPort?: number;
  readonly adminAddress?: string;
  readonly adminPort?: number;
  /** Incremental xDS instead of state-of-the-world. */
  readonly delta?: boolean;
  /**
   * Serve `/stats/prometheus` alone on this port: Envoy's admin endpoint can
   * stop Envoy (`POST /quitquitquit`) and change its state, so it stays on
   * loopback while a scraper on another host reads the stats here.
   */
  readonly statsPort?: number;
  readonly statsAddress?: string;
  /** xDS over TLS: Envoy's client certificate (it must name the node id) and the CA of the control plane's certificate. */
  readonly xdsTls?: BootstrapXdsTls;
  /** Where this Envoy runs: it prefers replicas of its zone (envoy/bootstrap-locality.ts). */
  readonly locality?: EnvoyLocality;
}

export interface BootstrapXdsTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** The name the control plane's certificate must carry (DNS or IP SAN); default: the xDS host. */
  readonly serverName?: string;
  /**
   * Read the certificate, key and CA through SDS files in this directory, so
   * rotated files are used on the next connection; the caller writes the
   * files (xdsSdsSecrets, lib/envoy-sds.ts writeSdsFile).
   */
  readonly sdsDir?: string;
}

/** The SDS files the bootstrap's xDS TLS names (none without an SDS directory). */
export function xdsSdsSecrets(tls: BootstrapXdsTls | undefined): SdsSecret[] {
  if (tls?.sdsDir === undefined) return [];
  return [
    { kind: 'certificate', certFile: tls.certFile, keyFile: tls.keyFile },
    { kind: 'ca', caFile: tls.caFile },
  ];
}

/** Envoy → control plane: verified against the CA and the control plane's name, with Envoy's client certificate. */
function xdsTransportSocket(tls: BootstrapXdsTls, xdsHost: string): object {
  const name = tls.serverName ?? xdsHost;
  const ip = isIP(name) !== 0;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(ip ? {} : { sni: name }),
      common_tls_context: { alpn_protocols: ['h2'], ...xdsTlsFiles(tls, ip ? 'IP_ADDRESS' : 'DNS', name) },
    },
  };
}

function xdsTlsFiles(tls: BootstrapXdsTls, sanType: string, name: string): object {
  const san = { match_typed_subject_alt_names: [{ san_type: sanType, matcher: { exact: name } }] };
  const [cert, ca] = xdsSdsSecrets(tls);
  if (tls.sdsDir !== undefined && cert && ca)
    return {
      tls_certificate_sds_secret_configs: [sdsSecretConfig(tls.sdsDir, cert)],
      combined_validation_context: {
        default_validation_context: san,
        validation_context_sds_secret_config: sdsSecretConfig(tls.sdsDir, ca),
      },
    };
  return {
    tls_certificates: [{ certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } }],
    validation_context: { trusted_ca: { filename: tls.caFile }, ...san },
  };
}

const ADMIN_CLUSTER = 'envoy_admin';
const STATS_PATH = '/stats/prometheus';

/** A listener that proxies the Prometheus stats path to the admin endpoint and answers 404 to anything else. */
function statsListener(address: string, port: number): object {
  return {
    name: 'envoy_stats',
    address: { socket_address: { address, port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'envoy_stats',
              route_config: {
                virtual_hosts: [
                  {
                    name: 'stats',
                    domains: ['*'],
                    routes: [
                      {
                        match: { path: STATS_PATH, headers: [{ name: ':method', string_match: { exact: 'GET' } }] },
                        route: { cluster: ADMIN_CLUSTER },
                      },
                      { match: { prefix: '/' }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

function adminCluster(adminPort: number): object {
  return {
    name: ADMIN_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: ADMIN_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } } }] }],
    },
  };
}

/**
 * How soon Envoy tries the ADS stream again after the control plane went
 * away. Envoy's default (jittered, 500 ms doubling up to 30 s) leaves an Envoy
 * that saw a few seconds of outage deaf to a restarted control plane for up
 * to half a minute: no call fails (it serves its last configuration), but no
 * endpoint change reaches it either. Capped at 5 s, a fleet of Envoys still
 * spreads its retries over the interval (the wait is drawn at random below
 * the cap) while a restart is picked up within seconds.
 */
const ADS_RECONNECT_BACKOFF = { base_interval: '0.5s', max_interval: '5s' } as const;

export function bootstrapConfig(opts: BootstrapOptions): object {
  const ads = { ads: {}, resource_api_version: 'V3' };
  const adminPort = opts.adminPort ?? DEFAULT_PORTS.envoyAdmin;
  if (opts.statsPort !== undefined && opts.adminAddress !== undefined && !['127.0.0.1', 'localhost', '::1'].includes(opts.adminAddress)) {
    // The stats proxy reaches the admin endpoint over loopback.
    throw new Error('a stats port needs the admin endpoint on loopback (127.0.0.1)');
  }
  const local = localClusterConfig(opts.locality, adminPort);
  return {
    node: { id: opts.nodeId, cluster: opts.cluster ?? 'mcpmesh', ...nodeLocality(opts.locality) },
    ...(local.clusterManager ? { cluster_manager: local.clusterManager } : {}),
    admin: {
      address: { socket_address: { address: opts.adminAddress ?? '127.0.0.1', port_value: adminPort } },
    },
    dynamic_resources: {
      ads_config: {
        api_type: opts.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER, retry_policy: { retry_back_off: ADS_RECONNECT_BACKOFF } } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      ...(opts.statsPort !== undefined ? { listeners: [statsListener(opts.statsAddress ?? '127.0.0.1', opts.statsPort)] } : {}),
      clusters: [
        ...(opts.statsPort !== undefined ? [adminCluster(adminPort)] : []),
        ...(local.cluster ? [local.cluster] : []),
        {
          name: XDS_CLUSTER,
          type: 'STRICT_DNS',
          connect_timeout: '1s',
          ...(opts.xdsTls ? { transport_socket: xdsTransportSocket(opts.xdsTls, opts.xdsHost ?? '127.0.0.1') } : {}),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: {
                http2_protocol_options: {
                  connection_keepalive: { interval: '30s', timeout: '5s' },
                },
              },
            },
          },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: {
                        socket_address: { address: opts.xdsHost ?? '127.0.0.1', port_value: opts.xdsPort ?? DEFAULT_PORTS.xds },
                      },
                    },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
    // Spans leave Envoy every second (its default is 5 s), so a trace is whole
    // in the backend soon after its call. Envoy's other trigger, 5 spans
    // waiting, made one OTLP post per two or three traced calls: a post costs
    // Envoy and the collector far more than a span, so a worker now sends when
    // 1000 spans wait or the second is up. The admin layer lets an operator
    // change such values at run time (/runtime_modify).
    layered_runtime: {
      layers: [
        {
          name: 'mcpmesh',
          static_layer: { 'tracing.opentelemetry.flush_interval_ms': 1000, 'tracing.opentelemetry.min_flush_spans': 1000 },
        },
        { name: 'admin', admin_layer: {} },
      ],
    },
    // Internal listeners over LDS: the traced pass of the split tracing
    // (control-plane/envoy/trace-split.ts) is one. Without one in use it is
    // a registry per worker and nothing per request.
    bootstrap_extensions: [
      {
        name: 'envoy.bootstrap.internal_listener',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener' },
      },
    ],
    // Envoy warns on every start without a limit on downstream connections.
    overload_manager: {
      resource_monitors: [
        {
          name: 'envoy.resource_monitors.global_downstream_max_connections',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig',
            max_active_downstream_connections: 50000,
          },
        },
      ],
    },
  };
}

export function renderBootstrap(opts: BootstrapOptions): string {
  return stringify(bootstrapConfig(opts));
}
