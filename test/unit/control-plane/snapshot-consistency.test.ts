// Every EDS resource is named by a cluster, every RDS resource by a listener;
// a snapshot where one is not is never served.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { AdsServer } from '../../../control-plane/xds/ads-server.js';
import { packAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE, type TypeUrl } from '../../../control-plane/xds/api/type-urls.js';
import { type ResourceSet, resourceSet, type Snapshot } from '../../../control-plane/xds/snapshot.js';
import { SnapshotCache } from '../../../control-plane/xds/snapshot-cache.js';
import { assertConsistent, consistencyProblems, InconsistentSnapshotError } from '../../../control-plane/xds/snapshot-consistency.js';
import { serverSpec, snapshotOf } from '../../support/specs.js';

function replace(snapshot: Snapshot, type: TypeUrl, set: ResourceSet): Snapshot {
  return new Map([...snapshot, [type, set]]);
}

/** The snapshot with only the named resources of `type`. */
function keep(snapshot: Snapshot, type: TypeUrl, names: readonly string[]): Snapshot {
  const set = snapshot.get(type)!;
  return replace(snapshot, type, resourceSet(names.map((n) => set.resources.get(n)!)));
}

function cluster(name: string, serviceName: string) {
  const any = packAny(TYPE.cluster, { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: serviceName } });
  return { name, version: `v-${name}`, any };
}

describe('snapshot consistency', () => {
  const good = snapshotOf(serverSpec('a', [1]), serverSpec('b', [2]));

  test('a translated snapshot holds together', () => {
    assert.deepEqual(consistencyProblems(good), []);
    assertConsistent(good);
  });

  test('endpoints no cluster names are a problem', () => {
    const bad = keep(good, TYPE.cluster, ['mcp_a']);
    assert.deepEqual(consistencyProblems(bad), ['endpoints not named by any of the clusters: "mcp_b"']);
  });

  test('a cluster names its endpoints by service_name', () => {
    const renamed = replace(good, TYPE.cluster, resourceSet([cluster('mcp_a', 'mcp_a'), cluster('other', 'mcp_b')]));
    assert.deepEqual(consistencyProblems(renamed), []);
    const wrong = replace(good, TYPE.cluster, resourceSet([cluster('mcp_a', 'mcp_a'), cluster('mcp_b', 'elsewhere')]));
    assert.deepEqual(consistencyProblems(wrong), ['endpoints not named by any of the clusters: "mcp_b"']);
  });

  test('a route configuration no listener names is a problem', () => {
    const bad = replace(good, TYPE.listener, resourceSet([]));
    assert.deepEqual(consistencyProblems(bad), ['routes not named by any of the listeners: "mcp_routes"']);
  });

  test('every problem is reported, long lists counted', () => {
    const many = snapshotOf(...['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n, i) => serverSpec(n, [i + 1])));
    const bad = replace(replace(many, TYPE.cluster, resourceSet([])), TYPE.listener, resourceSet([]));
    const problems = [
      'endpoints not named by any of the clusters: "mcp_a", "mcp_b", "mcp_c", "mcp_d", "mcp_e" and 3 more',
      'routes not named by any of the listeners: "mcp_routes"',
    ];
    assert.deepEqual(consistencyProblems(bad), problems);
    assert.throws(
      () => assertConsistent(bad),
      (e: unknown) => e instanceof InconsistentSnapshotError && e.message === `inconsistent snapshot: ${problems.join('; ')}`,
    );
  });

  test('the cache does not serve an inconsistent snapshot, and keeps the one it had', () => {
    const cache = new SnapshotCache();
    cache.set(good);
    assert.throws(
      () => cache.set(keep(good, TYPE.cluster, [])),
      (e: unknown) => e instanceof InconsistentSnapshotError && /"mcp_a", "mcp_b"/.test(e.message),
    );
    assert.equal(cache.current(), good);
    assert.equal(cache.currentGeneration(), 1);
  });

  test('the ADS server refuses one too: no generation, nothing pushed', () => {
    const ads = new AdsServer({ logger: pino({ level: 'silent' }) });
    ads.setSnapshot(good);
    assert.throws(() => ads.setSnapshot(keep(good, TYPE.listener, [])), InconsistentSnapshotError);
    assert.equal(ads.currentSnapshot(), good);
    assert.equal(ads.currentGeneration(), 1);
  });
});
