// Where localities come from: the file's zone/datacenter, Consul's datacenter
// and `mcp_zone` meta, several datacenters joined into one state, and Envoy's
// own locality in its bootstrap.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ServerSpec, SourceState } from '../../../control-plane/catalog/model.js';
import { type JoinMemo, joinDatacenters } from '../../../control-plane/sources/consul-datacenters.js';
import { translateService } from '../../../control-plane/sources/consul-translation.js';
import { ConfigError, parseConfigText, toSourceState } from '../../../control-plane/sources/file-config.js';
import { bootstrapConfig } from '../../../envoy/bootstrap.js';
import { serverSpec } from '../../support/specs.js';

const same = async (h: string) => h;

function entry(id: string, meta: Record<string, string>, nodeMeta?: Record<string, string>): unknown {
  return {
    Node: { Node: 'n1', Address: '127.0.0.1', Datacenter: 'dc7', ...(nodeMeta ? { Meta: nodeMeta } : {}) },
    Service: { ID: id, Service: 'tools', Tags: ['mcp'], Address: '', Port: 7001, Meta: meta },
    Checks: [{ CheckID: `service:${id}`, Status: 'passing', ServiceID: id }],
  };
}

describe('localities from the file', () => {
  test('replicas carry zone and datacenter; the top-level datacenter is the local one', async () => {
    const cfg = parseConfigText(
      [
        'datacenter: dc1',
        'servers:',
        '  - name: a',
        '    replicas:',
        '      - { url: http://127.0.0.1:1/mcp, zone: z1 }',
        '      - { url: http://127.0.0.1:2/mcp, zone: z2, datacenter: dc2 }',
        '      - http://127.0.0.1:3/mcp',
        '',
      ].join('\n'),
      'f.yaml',
    );
    const state = await toSourceState(cfg, 'f.yaml', same);
    assert.deepEqual(state.datacenters, ['dc1']);
    assert.deepEqual(
      state.servers.get('a')!.replicas.map((r) => r.locality),
      [{ zone: 'z1' }, { datacenter: 'dc2', zone: 'z2' }, undefined],
    );
  });

  test('a bad zone name is refused with its field', () => {
    assert.throws(
      () => parseConfigText('servers:\n  - name: a\n    replicas: [{ url: http://127.0.0.1:1/mcp, zone: "a b" }]\n', 'f.yaml'),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('servers.0.replicas.0')),
    );
  });
});

describe('localities from Consul', () => {
  test('the zone is the service meta mcp_zone, else the node meta; the datacenter only when reading several', async () => {
    const body = [entry('t1', { mcp_zone: 'a' }, { mcp_zone: 'b' }), entry('t2', {}, { mcp_zone: 'b' }), entry('t3', {})];
    const one = await translateService('tools', body, undefined, same);
    assert.deepEqual(
      one.spec.replicas.map((r) => r.locality),
      [{ zone: 'a' }, { zone: 'b' }, undefined],
    );
    const several = await translateService('tools', body, undefined, same, 'dc2');
    assert.deepEqual(
      several.spec.replicas.map((r) => r.locality),
      [{ datacenter: 'dc2', zone: 'a' }, { datacenter: 'dc2', zone: 'b' }, { datacenter: 'dc2' }],
    );
  });

  test('a bad mcp_zone rejects the service, naming the instance and the key', async () => {
    await assert.rejects(
      translateService('tools', [entry('t1', { mcp_zone: 'no spaces' })], undefined, same),
      /instance t1: mcp_zone "no spaces"/,
    );
  });

  test('datacenters join into one state: replicas of each, ids by datacenter, the order kept, unchanged entries reused', () => {
    const a1 = serverSpec('a', [1]);
    const a2 = serverSpec('a', [2]);
    const b2 = serverSpec('b', [3]);
    const states = new Map<string, SourceState>([
      ['dc1', { servers: new Map([['a', a1]]) }],
      [
        'dc2',
        {
          servers: new Map<string, ServerSpec>([
            ['a', a2],
            ['b', b2],
          ]),
        },
      ],
    ]);
    const memo: JoinMemo = new Map();
    const joined = joinDatacenters(['dc1', 'dc2'], states, memo);
    assert.deepEqual(joined.datacenters, ['dc1', 'dc2']);
    assert.deepEqual(
      joined.servers.get('a')!.replicas.map((r) => r.id),
      ['127.0.0.1:1@dc1', '127.0.0.1:2@dc2'],
    );
    assert.deepEqual(
      joined.servers.get('b')!.replicas.map((r) => r.id),
      ['127.0.0.1:3@dc2'],
    );
    const again = joinDatacenters(['dc1', 'dc2'], states, memo);
    assert.equal(again.servers.get('a'), joined.servers.get('a'));
    // A datacenter not read yet is simply absent.
    assert.deepEqual([...joinDatacenters(['dc1', 'dc2'], new Map([['dc1', states.get('dc1')!]])).servers.keys()], ['a']);
  });
});

describe("Envoy's own locality", () => {
  test('--datacenter and --zone: node locality, and a local cluster for zone-aware routing', () => {
    const b = bootstrapConfig({ nodeId: 'n', adminPort: 9901, locality: { datacenter: 'dc1', zone: 'a' } }) as Record<string, any>;
    assert.deepEqual(b['node'].locality, { region: 'dc1', zone: 'a' });
    assert.equal(b['cluster_manager'].local_cluster_name, 'mcpmesh_local');
    const local = (b['static_resources'].clusters as Record<string, any>[]).find((c) => c['name'] === 'mcpmesh_local')!;
    assert.deepEqual(local['load_assignment'].endpoints[0].locality, { region: 'dc1', zone: 'a' });
  });

  test('without a zone there is no local cluster; without either, no locality', () => {
    const dcOnly = bootstrapConfig({ nodeId: 'n', locality: { datacenter: 'dc1' } }) as Record<string, any>;
    assert.deepEqual(dcOnly['node'].locality, { region: 'dc1' });
    assert.equal(dcOnly['cluster_manager'], undefined);
    const none = bootstrapConfig({ nodeId: 'n' }) as Record<string, any>;
    assert.equal(none['node'].locality, undefined);
    assert.throws(() => bootstrapConfig({ nodeId: 'n', locality: { zone: 'bad zone' } }), /zone "bad zone"/);
  });
});
