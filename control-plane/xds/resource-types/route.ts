// Route configurations (RDS), subscribed to by the names the listeners give.
// They point at clusters and belong to listeners, so they go last.
import { TYPE } from '../api/type-urls.js';
import type { ResourceType } from './resource-type.js';

export const routes: ResourceType = {
  url: TYPE.route,
  name: 'routes',
  wildcard: false,
  sendsAfter: [TYPE.cluster, TYPE.listener],
  removalsWaitFor: [],
  sotwSendsOnlyChanges: false,
};
