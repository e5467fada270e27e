// Catalog → the snapshot the ADS server serves: the Envoy translation encodes
// the resources, the xDS side versions them and checks that they hold
// together. A snapshot that does not throws here, where a translation error
// does, so the pipeline treats both alike: the last good snapshot stays.
import type { Catalog } from './catalog/model.js';
import type { UpstreamTlsDefaults } from './envoy/clusters.js';
import type { ListenerOptions } from './envoy/listener.js';
import { EnvoyResourceBuilder } from './envoy/resource-builder.js';
import { type Snapshot, SnapshotVersioner } from './xds/snapshot.js';
import { assertConsistent } from './xds/snapshot-consistency.js';

export class SnapshotBuilder {
  private readonly resources: EnvoyResourceBuilder;
  private readonly versions = new SnapshotVersioner();

  constructor(upstreamTls: UpstreamTlsDefaults = {}) {
    this.resources = new EnvoyResourceBuilder(upstreamTls);
  }

  build(catalog: Catalog, listener: ListenerOptions): Snapshot {
    const snapshot = this.versions.version(this.resources.build(catalog, listener));
    assertConsistent(snapshot);
    return snapshot;
  }
}

/** One-off build (tests, tools): no cache carried between calls. */
export function buildSnapshot(catalog: Catalog, listener: ListenerOptions): Snapshot {
  return new SnapshotBuilder().build(catalog, listener);
}
