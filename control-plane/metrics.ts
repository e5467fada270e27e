// The control plane's Prometheus metrics (names prefixed mcpmesh_), and the
// process and Node.js defaults under their standard names.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectStandardDefaultMetrics } from '../lib/default-metrics.js';

export function createControlPlaneMetrics(registry = new Registry()) {
  collectStandardDefaultMetrics(registry);
  return {
    registry,
    connectedClients: new Gauge({ name: 'mcpmesh_xds_connected_clients', help: 'Envoys connected over ADS', registers: [registry] }),
    pushes: new Counter({
      name: 'mcpmesh_xds_pushes_total',
      help: 'Discovery responses sent, by resource type and protocol variant',
      labelNames: ['type', 'variant'] as const,
      registers: [registry],
    }),
    acks: new Counter({
      name: 'mcpmesh_xds_acks_total',
      help: 'ACKs received by resource type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    nacks: new Counter({
      name: 'mcpmesh_xds_nacks_total',
      help: 'NACKs received by resource type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    convergence: new Histogram({
      name: 'mcpmesh_xds_convergence_seconds',
      help: 'From a new snapshot to the ACK of every connected Envoy',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    snapshotBuild: new Histogram({
      name: 'mcpmesh_snapshot_build_seconds',
      help: 'Catalog to encoded Envoy resources',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    snapshotErrors: new Counter({
      name: 'mcpmesh_snapshot_errors_total',
      help: 'Catalogs that could not be translated (last good kept)',
      registers: [registry],
    }),
    snapshotGeneration: new Gauge({ name: 'mcpmesh_snapshot_generation', help: 'Snapshots installed since start', registers: [registry] }),
    servers: new Gauge({ name: 'mcpmesh_catalog_servers', help: 'MCP servers in the catalog', registers: [registry] }),
    replicas: new Gauge({
      name: 'mcpmesh_catalog_replicas',
      help: 'Replicas in the catalog by health',
      labelNames: ['health'] as const,
      registers: [registry],
    }),
    sourceSynced: new Gauge({
      name: 'mcpmesh_source_synced',
      help: '1 once the source delivered a valid state',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    sourceStale: new Gauge({
      name: 'mcpmesh_source_stale',
      help: '1 while the source cannot reach its store (last good state in force)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    sourceErrors: new Counter({
      name: 'mcpmesh_source_errors_total',
      help: 'Rejected or failed source reads',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    sourceRejected: new Counter({
      name: 'mcpmesh_source_rejected_total',
      help: 'Services or policies rejected by validation (each rejected alone; last good kept)',
      labelNames: ['kind', 'server'] as const,
      registers: [registry],
    }),
    consulRequests: new Counter({
      name: 'mcpmesh_consul_requests_total',
      help: 'Requests to Consul',
      labelNames: ['endpoint', 'outcome'] as const,
      registers: [registry],
    }),
    consulRequestSeconds: new Histogram({
      name: 'mcpmesh_consul_request_seconds',
      help: 'Consul request latency (blocking queries included: they wait for changes)',
      labelNames: ['endpoint'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 600],
      registers: [registry],
    }),
    // Not per URI: the URIs are the caller's, so a label would let any caller grow the series.
    listenDenied: new Counter({
      name: 'mcpmesh_listen_denied_total',
      help: 'subscriptions/listen requests refused by the resource rules (a URI the caller may not read), per server',
      labelNames: ['server'] as const,
      registers: [registry],
    }),
  };
}

export type ControlPlaneMetrics = ReturnType<typeof createControlPlaneMetrics>;
