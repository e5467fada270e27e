// The per-type descriptions the streams and the consistency check follow.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { packAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE, type TypeUrl } from '../../../control-plane/xds/api/type-urls.js';
import { PUSH_ORDER, RESOURCE_TYPES, resourceType, servedType } from '../../../control-plane/xds/resource-types/registry.js';
import { mayRemove, maySend, type TypeProgress } from '../../../control-plane/xds/resource-types/resource-type.js';
import { serverSpec, snapshotOf } from '../../support/specs.js';

const idle: TypeProgress = { requested: true, inFlight: false, current: true };
const inFlight: TypeProgress = { requested: true, inFlight: true, current: false };
const behind: TypeProgress = { requested: true, inFlight: false, current: false };
const unrequested: TypeProgress = { requested: false, inFlight: false, current: true };

/** Every type idle, but for the ones given. */
function progress(overrides: Partial<Record<TypeUrl, TypeProgress>>): (t: TypeUrl) => TypeProgress {
  return (t) => overrides[t] ?? idle;
}

describe('resource type descriptions', () => {
  test('CDS, EDS, LDS, RDS: every served type once, in push order', () => {
    assert.deepEqual(PUSH_ORDER, [TYPE.cluster, TYPE.endpoints, TYPE.listener, TYPE.route]);
    assert.deepEqual(
      RESOURCE_TYPES.map((t) => t.name),
      ['clusters', 'endpoints', 'listeners', 'routes'],
    );
    for (const url of Object.values(TYPE)) assert.equal(resourceType(url)?.url, url);
    assert.equal(resourceType('type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig'), undefined);
  });

  test('clusters and listeners are wildcard (whole set in SotW); endpoints and routes are named', () => {
    assert.deepEqual(
      RESOURCE_TYPES.filter((t) => t.wildcard).map((t) => t.url),
      [TYPE.cluster, TYPE.listener],
    );
  });

  test('only endpoints go out in SotW as changes alone', () => {
    assert.deepEqual(
      RESOURCE_TYPES.filter((t) => t.sotwSendsOnlyChanges).map((t) => t.url),
      [TYPE.endpoints],
    );
  });

  test('listeners wait for clusters in flight, routes for clusters and listeners; clusters and endpoints never wait', () => {
    const cdsInFlight = progress({ [TYPE.cluster]: inFlight });
    const ldsInFlight = progress({ [TYPE.listener]: inFlight });
    assert.equal(maySend(servedType(TYPE.listener), cdsInFlight), false);
    assert.equal(maySend(servedType(TYPE.listener), ldsInFlight), true);
    assert.equal(maySend(servedType(TYPE.route), cdsInFlight), false);
    assert.equal(maySend(servedType(TYPE.route), ldsInFlight), false);
    assert.equal(maySend(servedType(TYPE.route), progress({ [TYPE.endpoints]: inFlight })), true);
    const allInFlight = () => inFlight;
    assert.equal(maySend(servedType(TYPE.cluster), allInFlight), true);
    assert.equal(maySend(servedType(TYPE.endpoints), allInFlight), true);
  });

  test('a cluster removal waits until subscribed listeners and routes are current; other removals never wait', () => {
    const clusters = servedType(TYPE.cluster);
    assert.equal(mayRemove(clusters, progress({})), true);
    assert.equal(mayRemove(clusters, progress({ [TYPE.route]: inFlight })), false);
    assert.equal(mayRemove(clusters, progress({ [TYPE.route]: behind })), false);
    assert.equal(mayRemove(clusters, progress({ [TYPE.listener]: behind })), false);
    assert.equal(mayRemove(clusters, progress({ [TYPE.listener]: unrequested, [TYPE.route]: unrequested })), true);
    assert.equal(mayRemove(clusters, progress({ [TYPE.endpoints]: behind })), true);
    for (const url of [TYPE.endpoints, TYPE.listener, TYPE.route])
      assert.equal(
        mayRemove(servedType(url), () => inFlight),
        true,
      );
  });

  test('clusters name their EDS service, listeners their RDS route configuration', () => {
    const snapshot = snapshotOf(serverSpec('a', [1]), serverSpec('b', [2]));
    const names = (type: TypeUrl) => [...snapshot.get(type)!.resources.values()].flatMap((r) => servedType(type).references!.names(r.any));
    assert.deepEqual(names(TYPE.cluster).sort(), ['mcp_a', 'mcp_b']);
    assert.deepEqual(names(TYPE.listener), ['mcp_routes']);
    assert.equal(servedType(TYPE.cluster).references!.type, TYPE.endpoints);
    assert.equal(servedType(TYPE.listener).references!.type, TYPE.route);
    assert.equal(servedType(TYPE.endpoints).references, undefined);
    assert.equal(servedType(TYPE.route).references, undefined);
  });

  test('an EDS cluster names its service_name when it has one, its own name otherwise; other clusters name nothing', () => {
    const refs = servedType(TYPE.cluster).references!;
    const eds = (config: object) =>
      packAny(TYPE.cluster, { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, ...config } });
    assert.deepEqual(refs.names(eds({ service_name: 'svc' })), ['svc']);
    assert.deepEqual(refs.names(eds({})), ['c']);
    assert.deepEqual(refs.names(packAny(TYPE.cluster, { name: 's', type: 'STATIC' })), []);
  });

  test('a listener without RDS names no route configuration', () => {
    const inline = packAny(TYPE.listener, {
      name: 'l',
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                route_config: { name: 'inline' },
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(servedType(TYPE.listener).references!.names(inline), []);
  });

  test('a resource is decoded once: the same encoded object gives the same names', () => {
    const refs = servedType(TYPE.cluster).references!;
    const any = packAny(TYPE.cluster, { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
    assert.equal(refs.names(any), refs.names(any));
  });

  test('only a changed cluster makes Envoy warm until what it names arrives again', () => {
    assert.deepEqual(
      RESOURCE_TYPES.filter((t) => t.references?.resentOnChange).map((t) => t.url),
      [TYPE.cluster],
    );
  });
});
