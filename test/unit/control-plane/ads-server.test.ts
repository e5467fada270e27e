// The ADS server over real gRPC with simulated clients (the Envoy-level
// behaviour is in test/integration).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { AdsServer } from '../../../control-plane/xds/ads-server.js';
import { envoyRoot } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { DeltaResponseEncoder, SotwResponseCache } from '../../../control-plane/xds/response-encoding.js';
import { resourceSet } from '../../../control-plane/xds/snapshot.js';
import { SimAdsClient } from '../../support/sim-ads-client.js';
import { serverSpec, snapshotOf } from '../../support/specs.js';
import { until } from '../../support/wait.js';

const server = serverSpec;
const snap = snapshotOf;
const logger = pino({ level: 'silent' });

describe('SotW response encoding', () => {
  const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const decode = (buf: Buffer) => type.toObject(type.decode(buf));

  test('a cached body plus a nonce field decodes to the full response', () => {
    const s = snap(server('a', [1, 2]));
    const cache = new SotwResponseCache();
    const response = {
      version_info: 'v1',
      contents: s.get(TYPE.cluster)!,
      type_url: TYPE.cluster,
      nonce: 'n-42',
      control_plane: { identifier: 'x' },
    };
    const a = decode(cache.encode(response));
    const b = decode(cache.encode({ ...response, nonce: 'n-43' }));
    assert.equal(a['nonce'], 'n-42');
    assert.equal(b['nonce'], 'n-43');
    assert.equal(a['version_info'], 'v1');
    assert.equal((a['resources'] as unknown[]).length, 1);
    assert.equal(cache.size, 1);
  });

  test('responses of one version that carry different resources get bodies of their own', () => {
    const eds = snap(server('a', [1]), server('b', [2, 4]), server('c', [3])).get(TYPE.endpoints)!;
    const cache = new SotwResponseCache();
    const response = { version_info: eds.version, type_url: TYPE.endpoints, nonce: 'n-1', control_plane: { identifier: 'x' } };
    const onlyB = resourceSet([eds.resources.get('mcp_b')!]);
    // A client that held the rest is sent b alone; a new one, all three.
    assert.equal((decode(cache.encode({ ...response, contents: onlyB }))['resources'] as unknown[]).length, 1);
    assert.equal((decode(cache.encode({ ...response, contents: eds }))['resources'] as unknown[]).length, 3);
    // An equal change set from another client is the same body.
    assert.equal(
      (decode(cache.encode({ ...response, contents: resourceSet([eds.resources.get('mcp_b')!]) }))['resources'] as unknown[]).length,
      1,
    );
    assert.equal(cache.size, 2);
    // The identifier is part of the body too.
    assert.deepEqual(decode(cache.encode({ ...response, contents: eds, control_plane: { identifier: 'y' } }))['control_plane'], {
      identifier: 'y',
    });
  });
});

describe('delta response encoding', () => {
  test('a response joined from cached Resource messages decodes to what encoding it whole gives', () => {
    const s = snap(server('a', [1, 2]), server('b', [3]));
    const resources = [...s.get(TYPE.endpoints)!.resources.values()];
    const response = {
      system_version_info: 'v1',
      resources,
      type_url: TYPE.endpoints,
      removed_resources: ['mcp_c'],
      nonce: 'n-7',
      control_plane: { identifier: 'x' },
    };
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const whole = type
      .encode(type.fromObject({ ...response, resources: resources.map((r) => ({ name: r.name, version: r.version, resource: r.any })) }))
      .finish();
    const encoder = new DeltaResponseEncoder();
    encoder.encode(response);
    const joined = encoder.encode({ ...response, nonce: 'n-8' });
    assert.deepEqual(type.toObject(type.decode(joined)), { ...type.toObject(type.decode(whole)), nonce: 'n-8' });
    assert.equal((type.toObject(type.decode(joined))['resources'] as unknown[]).length, 2);
  });
});

describe('ADS server with simulated clients', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  for (const delta of [false, true]) {
    test(`${delta ? 'delta' : 'SotW'}: clients converge, and a restarted server sends nothing to clients that are current`, async () => {
      const first = new AdsServer({ logger });
      const port = await first.listen('127.0.0.1', 0);
      const snapshot = snap(server('a', [1, 2]), server('b', [3]));
      cleanup.push(() => first.stop(100));
      first.setSnapshot(snapshot);
      const client = new SimAdsClient({ address: `127.0.0.1:${port}`, nodeId: 'n1', delta });
      cleanup.push(() => client.close());
      client.start();
      await until(() => client.acked.get(TYPE.route) !== undefined && first.isConverged(), 'initial convergence', 5_000, 5);
      assert.equal(client.held.get(TYPE.endpoints)?.size, 2);
      let convergedGeneration = -1;
      first.onConverged((g) => (convergedGeneration = g));
      first.setSnapshot(snap(server('a', [1, 2, 4]), server('b', [3])));
      await until(() => convergedGeneration === 2, 'convergence of the change', 5_000, 5);
      client.close();
      await first.stop(100);

      // Same catalog, new process: the reconnecting client names what it holds.
      const second = new AdsServer({ logger });
      cleanup.push(() => second.stop(100));
      await second.listen('127.0.0.1', port);
      second.setSnapshot(snap(server('a', [1, 2, 4]), server('b', [3])));
      const again = new SimAdsClient({ address: `127.0.0.1:${port}`, nodeId: 'n1', delta });
      cleanup.push(() => again.close());
      for (const [type, version] of client.acked) again.acked.set(type, version);
      again.start(client.held);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(second.clients().length, 1);
      assert.deepEqual(
        again.responses.filter((r) => r.type === TYPE.cluster || r.type === TYPE.listener),
        [],
      );
    });

    test(`${delta ? 'delta' : 'SotW'}: a client that connects after an endpoints-only change gets every cluster's endpoints`, async () => {
      const ads = new AdsServer({ logger });
      const port = await ads.listen('127.0.0.1', 0);
      cleanup.push(() => ads.stop(100));
      ads.setSnapshot(snap(server('a', [1]), server('b', [2]), server('c', [3])));
      const early = new SimAdsClient({ address: `127.0.0.1:${port}`, nodeId: 'early', delta });
      cleanup.push(() => early.close());
      early.start();
      await until(() => early.acked.get(TYPE.route) !== undefined && ads.isConverged(), 'the early client converged', 5_000, 5);
      let convergedGeneration = -1;
      ads.onConverged((g) => (convergedGeneration = g));
      const edsBefore = early.responses.filter((r) => r.type === TYPE.endpoints).length;
      // One replica of b changes: clusters, listener and routes stay as they are.
      const changed = snap(server('a', [1]), server('b', [2, 4]), server('c', [3]));
      ads.setSnapshot(changed);
      await until(() => convergedGeneration === 2, 'the early client converged on the change', 5_000, 5);
      // The early client is sent the one assignment that changed.
      assert.deepEqual(
        early.responses
          .filter((r) => r.type === TYPE.endpoints)
          .slice(edsBefore)
          .map((r) => r.resources),
        [1],
      );

      const late = new SimAdsClient({ address: `127.0.0.1:${port}`, nodeId: 'late', delta });
      cleanup.push(() => late.close());
      late.start();
      await until(() => late.acked.get(TYPE.route) !== undefined && ads.isConverged(), 'the late client converged', 5_000, 5);
      const expected = new Map([...changed.get(TYPE.endpoints)!.resources].map(([name, r]) => [name, r.version]));
      assert.deepEqual(late.held.get(TYPE.endpoints), expected, 'the late client holds every assignment');
      assert.deepEqual(early.held.get(TYPE.endpoints), expected, 'the early client holds every assignment');
    });
  }
});
