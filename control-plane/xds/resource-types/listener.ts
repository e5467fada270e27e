// Listeners (LDS): Envoy holds the whole set. A listener's routes name
// clusters, so listeners follow the clusters.
import { decodeAny, fieldAt, type PackedAny } from '../api/envoy-protos.js';
import { TYPE } from '../api/type-urls.js';
import { namesByIdentity, type ResourceType } from './resource-type.js';

const HTTP_CONNECTION_MANAGER = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** The route configurations the listener's HTTP connection managers load over RDS. */
function rdsRouteConfigNames(listener: PackedAny): readonly string[] {
  const message = decodeAny(listener);
  const chains = [...asList(fieldAt(message, 'filter_chains')), fieldAt(message, 'default_filter_chain')];
  const names = new Set<string>();
  for (const chain of chains) {
    for (const filter of asList(fieldAt(chain, 'filters'))) {
      const config = fieldAt(filter, 'typed_config');
      const typeUrl = fieldAt(config, 'type_url');
      const value = fieldAt(config, 'value');
      if (typeUrl !== HTTP_CONNECTION_MANAGER || !(value instanceof Uint8Array)) continue;
      const name = fieldAt(decodeAny({ type_url: typeUrl, value }), 'rds', 'route_config_name');
      if (typeof name === 'string' && name !== '') names.add(name);
    }
  }
  return [...names];
}

function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export const listeners: ResourceType = {
  url: TYPE.listener,
  name: 'listeners',
  wildcard: true,
  sendsAfter: [TYPE.cluster],
  removalsWaitFor: [],
  sotwSendsOnlyChanges: false,
  // Envoy shares one RDS subscription per route configuration name, so a
  // changed listener needs no routes sent again.
  references: { type: TYPE.route, names: namesByIdentity(rdsRouteConfigNames), resentOnChange: false },
};
