// Clusters (CDS) go first: listeners and routes point at them, and Envoy asks
// for endpoints only for the clusters it has.
import { decodeAny, envoyRoot, fieldAt, type PackedAny } from '../api/envoy-protos.js';
import { TYPE } from '../api/type-urls.js';
import { namesByIdentity, type ResourceType } from './resource-type.js';

let edsType: number | undefined;

/** The ClusterLoadAssignment an EDS cluster takes its endpoints from: its service_name, or else its own name. */
function edsServiceNames(cluster: PackedAny): readonly string[] {
  edsType ??= envoyRoot().lookupEnum('envoy.config.cluster.v3.Cluster.DiscoveryType').values['EDS'];
  const message = decodeAny(cluster);
  if (fieldAt(message, 'type') !== edsType) return [];
  const service = fieldAt(message, 'eds_cluster_config', 'service_name');
  const name = typeof service === 'string' && service !== '' ? service : fieldAt(message, 'name');
  return typeof name === 'string' ? [name] : [];
}

export const clusters: ResourceType = {
  url: TYPE.cluster,
  name: 'clusters',
  wildcard: true,
  sendsAfter: [],
  // A route may point at a cluster until Envoy has the routes without it.
  removalsWaitFor: [TYPE.listener, TYPE.route],
  sotwSendsOnlyChanges: false,
  // A changed cluster opens a new EDS subscription and warms until it is answered.
  references: { type: TYPE.endpoints, names: namesByIdentity(edsServiceNames), resentOnChange: true },
};
