// Consul's answers → ServerSpecs and policies, without a Consul: the bodies
// are shaped as Consul's HTTP API returns them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  changedByHealth,
  healthPrints,
  mcpServiceNames,
  NO_HEALTH,
  policyEntries,
  type ResolveHost,
  replicaHealth,
  translateService,
} from '../../../control-plane/sources/consul-translation.js';

const resolved: ResolveHost = async (host) => (host === 'node-a.local' ? '10.0.0.1' : host);

interface Instance {
  id: string;
  address?: string;
  nodeAddress?: string;
  port?: number;
  node?: string;
  tags?: string[] | null;
  meta?: Record<string, string> | null;
  weights?: { Passing: number; Warning: number };
  checks?: { CheckID: string; Status: string; ServiceID?: string }[];
}

/** One element of /v1/health/service/<name>. */
function entry(service: string, i: Instance): unknown {
  return {
    Node: { Node: i.node ?? 'n1', Address: i.nodeAddress ?? '127.0.0.1' },
    Service: {
      ID: i.id,
      Service: service,
      Tags: i.tags === undefined ? ['mcp'] : i.tags,
      Address: i.address ?? '',
      Port: i.port ?? 7001,
      Meta: i.meta === undefined ? {} : i.meta,
      ...(i.weights ? { Weights: i.weights } : {}),
    },
    Checks: i.checks ?? [{ CheckID: `service:${i.id}`, Status: 'passing', ServiceID: i.id }],
  };
}

const kv = (key: string, value: unknown) => ({
  Key: key,
  Value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64'),
  ModifyIndex: 1,
});

describe('Consul translation', () => {
  test('the services tagged mcp are the MCP servers', () => {
    assert.deepEqual([...mcpServiceNames({ consul: [], tools: ['mcp', 'v2'], web: ['http'], bare: null })], ['tools']);
  });

  test('an instance becomes a replica: id, resolved address, port, clamped weight, meta', async () => {
    const t = await translateService(
      'tools',
      [
        entry('tools', {
          id: 'tools-1',
          address: '',
          nodeAddress: 'node-a.local',
          port: 7001,
          weights: { Passing: 500, Warning: 1 },
          meta: { mcp_path: '/rpc', mcp_protocol: '2026', mcp_tls: 'true', mcpmesh_adapter: 'true' },
        }),
        entry('tools', {
          id: 'tools-2',
          address: '127.0.0.2',
          port: 7002,
          node: 'n2',
          weights: { Passing: 0, Warning: 1 },
          meta: { mcp_path: '/rpc', mcp_tls: 'true' },
        }),
        entry('tools', { id: 'web-1', tags: ['http'] }),
      ],
      undefined,
      resolved,
    );
    assert.deepEqual(t.spec, {
      name: 'tools',
      path: '/rpc',
      protocol: '2026',
      tls: true,
      replicas: [
        // TLS: the name as registered, before resolving, is what the certificate must carry.
        { id: 'tools-1', host: '10.0.0.1', port: 7001, health: 'healthy', weight: 128, tlsName: 'node-a.local' },
        { id: 'tools-2', host: '127.0.0.2', port: 7002, health: 'healthy', weight: 1, tlsName: '127.0.0.2' },
      ],
      policy: {},
      adapter: true,
    });
    assert.deepEqual([...t.nodes], ['n1', 'n2']);
    assert.equal(t.serviceChecks, 2);
  });

  test('defaults: /mcp, auto, plain HTTP, not an adapter; no instance is no replica', async () => {
    const t = await translateService('tools', [entry('tools', { id: 't1', meta: null })], undefined, resolved);
    assert.deepEqual([t.spec.path, t.spec.protocol, t.spec.tls, t.spec.adapter], ['/mcp', 'auto', false, false]);
    assert.deepEqual((await translateService('tools', null, undefined, resolved)).spec.replicas, []);
  });

  test('health: passing and warning serve, warning is degraded when the policy says so, critical and maintenance do not', () => {
    const c = (Status: string, CheckID = 'c') => [{ CheckID, Status }];
    assert.equal(replicaHealth(c('passing'), undefined), 'healthy');
    assert.equal(replicaHealth(c('warning'), undefined), 'healthy');
    assert.equal(replicaHealth(c('warning'), 'degraded'), 'degraded');
    assert.equal(replicaHealth(c('critical'), undefined), 'unhealthy');
    assert.equal(replicaHealth([...c('passing'), ...c('critical', '_node_maintenance')], undefined), 'unhealthy');
    assert.equal(replicaHealth(c('passing', '_service_maintenance:tools-1'), undefined), 'unhealthy');
  });

  test('what cannot be served is rejected with the instance and the reason', async () => {
    const rejects = (name: string, entries: unknown, pattern: RegExp, resolve: ResolveHost = resolved) =>
      assert.rejects(translateService(name, entries, undefined, resolve), pattern);
    await rejects('MyTools', [entry('MyTools', { id: 'm1' })], /service name "MyTools" is not a valid MCP server name/);
    await rejects('tools', [entry('tools', { id: 't1', meta: { mcp_path: 'no-slash' } })], /instance t1: mcp_path must be a path/);
    await rejects(
      'tools',
      [entry('tools', { id: 't1', meta: { mcp_path: '/a' } }), entry('tools', { id: 't2', meta: { mcp_path: '/b' } })],
      /instance t2: mcp_path\/mcp_tls differ/,
    );
    await rejects('tools', [entry('tools', { id: 't1', port: 70000 })], /instance t1: port 70000 is not a TCP port/);
    await rejects('tools', [{ Node: {}, Service: { ID: 't1' } }], /instance 0: /);
    await rejects(
      'tools',
      [entry('tools', { id: 't1', address: 'nowhere' })],
      /instance t1: cannot resolve nowhere: no such host/,
      async () => {
        throw new Error('no such host');
      },
    );
  });

  test('a health change concerns the services whose checks changed, and every service on a node whose checks changed', () => {
    const check = (Node: string, CheckID: string, Status: string, ServiceName = '', ServiceID = '') => ({
      Node,
      CheckID,
      Status,
      ServiceName,
      ServiceID,
      ModifyIndex: 1,
    });
    const before = healthPrints([
      check('n1', 'serfHealth', 'passing'),
      check('n1', 'c-a', 'passing', 'a', 'a-1'),
      check('n2', 'c-b', 'passing', 'b', 'b-1'),
    ]);
    const mcp = new Set(['a', 'b', 'c']);
    const servers = new Map([
      ['a', { nodes: new Set(['n1']) }],
      ['b', { nodes: new Set(['n2']) }],
    ]);
    assert.deepEqual([...changedByHealth(NO_HEALTH, before, mcp, servers)].sort(), ['a', 'b']);
    assert.deepEqual([...changedByHealth(before, before, mcp, servers)], []);
    const serviceCheck = healthPrints([
      check('n1', 'serfHealth', 'passing'),
      check('n1', 'c-a', 'passing', 'a', 'a-1'),
      check('n2', 'c-b', 'critical', 'b', 'b-1'),
    ]);
    assert.deepEqual([...changedByHealth(before, serviceCheck, mcp, servers)], ['b']);
    const nodeCheck = healthPrints([
      check('n1', 'serfHealth', 'critical'),
      check('n1', 'c-a', 'passing', 'a', 'a-1'),
      check('n2', 'c-b', 'passing', 'b', 'b-1'),
    ]);
    assert.deepEqual([...changedByHealth(before, nodeCheck, mcp, servers)], ['a']);
    const nodeGone = healthPrints([check('n1', 'c-a', 'passing', 'a', 'a-1'), check('n2', 'c-b', 'passing', 'b', 'b-1')]);
    assert.deepEqual([...changedByHealth(before, nodeGone, mcp, servers)], ['a']);
    assert.deepEqual(healthPrints(null), NO_HEALTH);
  });

  test('policies: one per server key, each rejected alone with its key; deeper keys are not policies', () => {
    const entries = policyEntries([
      kv('mcpmesh/policy/alpha', { retry: { attempts: 4 }, warning: 'degraded' }),
      kv('mcpmesh/policy/beta', { retry: { attemps: 9 } }),
      kv('mcpmesh/policy/gamma', 'not json'),
      kv('mcpmesh/policy/my%2Etools', { timeout: '2s' }),
      kv('mcpmesh/policy/alpha/notes', 'x'),
      kv('mcpmesh/policy/', '{}'),
    ]);
    assert.deepEqual(entries, [
      { server: 'alpha', policy: { retry: { attempts: 4 }, warning: 'degraded' } },
      { server: 'beta', error: 'mcpmesh/policy/beta: policy.retry: Unrecognized key: "attemps"' },
      { server: 'gamma', error: 'mcpmesh/policy/gamma: not JSON' },
      { server: 'my.tools', policy: { timeout: 2000 } },
    ]);
    assert.deepEqual(policyEntries(null), []);
  });

  test('a malformed answer throws (the watch ignores it)', () => {
    assert.throws(() => mcpServiceNames([1, 2]));
    assert.throws(() => healthPrints([{ Node: 'n1' }]));
    assert.throws(() => policyEntries([{ Key: 'mcpmesh/policy/a' }]));
  });
});
