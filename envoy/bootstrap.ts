// Envoy's bootstrap: everything but the admin endpoint and the way back to the
// control plane comes over ADS.
import { stringify } from 'yaml';
import { DEFAULT_PORTS } from '../lib/mesh-contracts.js';

export interface BootstrapOptions {
  readonly nodeId: string;
  readonly cluster?: string;
  readonly xdsHost?: string;
  readonly xdsPort?: number;
  readonly adminAddress?: string;
  readonly adminPort?: number;
  /** Incremental xDS instead of state-of-the-world. */
  readonly delta?: boolean;
}

export function bootstrapConfig(opts: BootstrapOptions): object {
  const ads = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: opts.nodeId, cluster: opts.cluster ?? 'mcpmesh' },
    admin: {
      address: { socket_address: { address: opts.adminAddress ?? '127.0.0.1', port_value: opts.adminPort ?? DEFAULT_PORTS.envoyAdmin } },
    },
    dynamic_resources: {
      ads_config: {
        api_type: opts.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'mcpmesh_xds' } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: 'mcpmesh_xds',
          type: 'STRICT_DNS',
          connect_timeout: '1s',
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
            cluster_name: 'mcpmesh_xds',
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
