// Endpoints (EDS): one ClusterLoadAssignment per cluster, subscribed to by
// name. They change far more often than anything else (every replica's health),
// so a SotW response carries only the assignments the client does not hold at
// their current version: at 1000 servers a one-replica change is one
// assignment, not a thousand, for every Envoy that held the rest; an Envoy that
// connects later is sent them all.
import { TYPE } from '../api/type-urls.js';
import type { ResourceType } from './resource-type.js';

export const endpoints: ResourceType = {
  url: TYPE.endpoints,
  name: 'endpoints',
  wildcard: false,
  // A new cluster warms until its endpoints arrive: they go out as soon as Envoy asks.
  sendsAfter: [],
  // Nothing points at an assignment but its cluster, which is removed first.
  removalsWaitFor: [],
  sotwSendsOnlyChanges: true,
};
