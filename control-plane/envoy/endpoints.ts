// CatalogServer → ClusterLoadAssignment (EDS).
import type { CatalogServer, ReplicaHealth } from '../catalog/model.js';
import { clusterName } from './clusters.js';
import { u32 } from './proto-values.js';

const HEALTH: Record<ReplicaHealth, string> = {
  healthy: 'HEALTHY',
  degraded: 'DEGRADED',
  unhealthy: 'UNHEALTHY',
  draining: 'DRAINING',
};

export function buildLoadAssignment(server: CatalogServer): object {
  return {
    cluster_name: clusterName(server.name),
    endpoints: [
      {
        lb_endpoints: server.replicas.map((r) => ({
          endpoint: {
            address: { socket_address: { address: r.host, port_value: r.port } },
            hostname: r.id,
          },
          health_status: HEALTH[r.health],
          load_balancing_weight: u32(r.weight),
        })),
      },
    ],
  };
}
