// Where this Envoy runs, for zone-aware routing: its node locality, and the
// local cluster Envoy compares upstream zones with. The local cluster is this
// Envoy alone (static, never connected to): with force_local_zone
// (control-plane/envoy/load-balancing.ts) Envoy keeps every call in the zone
// it shares with its local cluster while that zone has a healthy replica.

export interface EnvoyLocality {
  /** The datacenter (Envoy's region; endpoints carry their datacenter as their region). */
  readonly datacenter?: string;
  readonly zone?: string;
}

export const LOCAL_CLUSTER = 'mcpmesh_local';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function envoyLocality(l: EnvoyLocality): object {
  for (const [what, v] of [
    ['datacenter', l.datacenter],
    ['zone', l.zone],
  ] as const) {
    if (v !== undefined && !NAME.test(v))
      throw new Error(`${what} "${v}" must be 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)`);
  }
  return { ...(l.datacenter !== undefined ? { region: l.datacenter } : {}), ...(l.zone !== undefined ? { zone: l.zone } : {}) };
}

/** The node's locality field (absent without a datacenter or zone). */
export function nodeLocality(l: EnvoyLocality | undefined): object {
  if (l === undefined || (l.datacenter === undefined && l.zone === undefined)) return {};
  return { locality: envoyLocality(l) };
}

/** cluster_manager and the static local cluster, with a zone only (zone-aware routing needs one). */
export function localClusterConfig(l: EnvoyLocality | undefined, adminPort: number): { clusterManager?: object; cluster?: object } {
  if (l?.zone === undefined) return {};
  return {
    clusterManager: { local_cluster_name: LOCAL_CLUSTER },
    cluster: {
      name: LOCAL_CLUSTER,
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: LOCAL_CLUSTER,
        endpoints: [
          {
            locality: envoyLocality(l),
            // Envoy's own admin address stands for this Envoy; nothing is sent to the local cluster.
            lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } } }],
          },
        ],
      },
    },
  };
}
