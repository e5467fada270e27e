// CatalogServer → ClusterLoadAssignment (EDS): one locality per (datacenter,
// zone), the local datacenter at priority 0 and each other one a priority
// further (control-plane/catalog/locality.ts). Envoy moves traffic to the next
// priority as the healthy share of one drops (its overprovisioning factor,
// 1.4: from below 71% healthy), and back as it recovers.

import { isIP } from 'node:net';
import { localityGroups } from '../catalog/locality.js';
import type { CatalogServer, Replica, ReplicaHealth } from '../catalog/model.js';
import { clusterName, matchesReplicaIps, replicaTlsName, TLS_IP_MATCH_KEY } from './clusters.js';
import { struct, u32 } from './proto-values.js';

const HEALTH: Record<ReplicaHealth, string> = {
  healthy: 'HEALTHY',
  degraded: 'DEGRADED',
  unhealthy: 'UNHEALTHY',
  draining: 'DRAINING',
};

function lbEndpoint(server: CatalogServer, r: Replica, ipMatch: boolean): object {
  return {
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
  };
}

/** `datacenters`: the catalog's, in order of preference (the local one first). */
export function buildLoadAssignment(server: CatalogServer, datacenters: readonly string[] = []): object {
  const ipMatch = matchesReplicaIps(server);
  return {
    cluster_name: clusterName(server.name),
    endpoints: localityGroups(datacenters, server.replicas).map((g) => ({
      // Region is the datacenter: Envoy's node locality (bootstrap --datacenter/--zone) names the same.
      ...(g.datacenter !== undefined || g.zone !== undefined
        ? {
            locality: {
              ...(g.datacenter !== undefined ? { region: g.datacenter } : {}),
              ...(g.zone !== undefined ? { zone: g.zone } : {}),
            },
          }
        : {}),
      ...(g.priority > 0 ? { priority: g.priority } : {}),
      lb_endpoints: g.replicas.map((r) => lbEndpoint(server, r, ipMatch)),
    })),
  };
}
