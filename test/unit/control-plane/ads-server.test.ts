// The ADS server over real gRPC with simulated clients (the Envoy-level
// behaviour is in test/integration).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { serverSpec, snapshotOf } from '../../support/specs.js';
import { AdsServer } from '../../../control-plane/xds/ads-server.js';
import { envoyRoot } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { DeltaResponseEncoder, SotwResponseCache } from '../../../control-plane/xds/response-encoding.js';
import { SimAdsClient } from '../../support/sim-ads-client.js';
import { until } from '../../support/wait.js';

const server = serverSpec;
const snap = snapshotOf;
const logger = pino({ level: 'silent' });


describe('SotW response encoding', () => {
  test('a cached body plus a nonce field decodes to the full response', () => {
    const s = snap(server('a', [1, 2]));
    const cache = new SotwResponseCache();
    const resources = [...s.get(TYPE.cluster)!.resources.values()].map((r) => r.any);
    const response = { version_info: 'v1', resources, type_url: TYPE.cluster, nonce: 'n-42', control_plane: { identifier: 'x' } };
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const a = type.toObject(type.decode(cache.encode(response)));
    const b = type.toObject(type.decode(cache.encode({ ...response, nonce: 'n-43' })));
    assert.equal(a['nonce'], 'n-42');
    assert.equal(b['nonce'], 'n-43');
    assert.equal(a['version_info'], 'v1');
    assert.equal((a['resources'] as unknown[]).length, 1);
  });
});

describe('delta response encoding', () => {
  test('a response joined from cached Resource messages decodes to what encoding it whole gives', () => {
    const s = snap(server('a', [1, 2]), server('b', [3]));
    const resources = [...s.get(TYPE.endpoints)!.resources.values()];
    const response = { system_version_info: 'v1', resources, type_url: TYPE.endpoints, removed_resources: ['mcp_c'], nonce: 'n-7', control_plane: { identifier: 'x' } };
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const whole = type.encode(type.fromObject({ ...response, resources: resources.map((r) => ({ name: r.name, version: r.version, resource: r.any })) })).finish();
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
      assert.deepEqual(again.responses.filter((r) => r.type === TYPE.cluster || r.type === TYPE.listener), []);
    });
  }
});
