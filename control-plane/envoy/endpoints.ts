// CatalogServer → ClusterLoadAssignment (EDS).

import { isIP } from 'node:net';
import type { CatalogServer, ReplicaHealth } from '../catalog/model.js';
import { clusterName, matchesReplicaIps, replicaTlsName, TLS_IP_MATCH_KEY } from './clusters.js';
import { struct, u32 } from './proto-values.js';

const HEALTH: Record<ReplicaHealth, string> = {
  healthy: 'HEALTHY',
  degraded: 'DEGRADED',
  unhealthy: 'UNHEALTHY',
  draining: 'DRAINING',
};

export function buildLoadAssignment(server: CatalogServer): object {
  const ipMatch = matchesReplicaIps(server);
  return {
    cluster_name: clusterName(server.name),
    endpoints: [
      {
        lb_endpoints: server.replicas.map((r) => ({
          endpoint: {
            address: { socket_address: { address: r.host, port_value: r.port } },
            // TLS: the name SNI and the certificate check use (auto_host_sni).
            hostname: server.tls ? replicaTlsName(r) : r.id,
          },
          ...(ipMatch && isIP(replicaTlsName(r)) !== 0
            ? { metadata: { filter_metadata: { 'envoy.transport_socket_match': struct({ [TLS_IP_MATCH_KEY]: replicaTlsName(r) }) } } }
            : {}),
          health_status: HEALTH[r.health],
          load_balancing_weight: u32(r.weight),
        })),
      },
    ],
  };
}
