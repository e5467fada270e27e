// Catalog inputs for unit tests.
import { buildCatalog } from '../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec } from '../../control-plane/catalog/model.js';
import type { Policy } from '../../control-plane/catalog/policy-schema.js';
import { buildSnapshot } from '../../control-plane/snapshot-builder.js';
import type { Snapshot } from '../../control-plane/xds/snapshot.js';

/** A server with one loopback replica per port. */
export function serverSpec(name: string, ports: readonly number[], policy: Policy = {}): ServerSpec {
  return {
    name,
    path: '/mcp',
    protocol: 'auto',
    tls: false,
    replicas: ports.map((port) => ({ id: `127.0.0.1:${port}`, host: '127.0.0.1', port, health: 'healthy', weight: 1 })),
    policy,
  };
}

export function snapshotOf(...servers: ServerSpec[]): Snapshot {
  return buildSnapshot(buildCatalog({ servers: new Map(servers.map((s) => [s.name, s])) }, new Map()), {
    address: '127.0.0.1',
    port: 10000,
  });
}
