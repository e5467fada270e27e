// The Consul source against a real Consul agent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { SourceState } from '../../../control-plane/catalog/model.js';
import { ConsulSource } from '../../../control-plane/sources/consul-source.js';
import { type ConsulAgent, registerService, setCheck, startConsul } from '../../support/consul.js';
import { until } from '../../support/wait.js';

const logger = pino({ level: process.env['MCPMESH_TEST_LOG'] ?? 'silent' });

describe('Consul source', () => {
  let consul: ConsulAgent;
  let source: ConsulSource;
  let state: SourceState = { servers: new Map() };
  const rejected: string[] = [];

  before(async () => {
    consul = await startConsul();
    await registerService(consul, { name: 'alpha', id: 'alpha-1', port: 7001 });
    source = new ConsulSource({
      consulUrl: consul.url,
      logger,
      waitSeconds: 5,
      restartGraceMs: 3_000,
      metrics: { request: () => undefined, rejected: (kind, server) => rejected.push(`${kind}:${server}`), stale: () => undefined },
    });
    await source.start((s) => (state = s));
  });
  after(async () => {
    await source?.stop();
    await consul?.stop();
  });

  const replicas = (name: string) => state.servers.get(name)?.replicas.map((r) => `${r.id}:${r.health}:${r.weight}`) ?? [];

  test('services tagged mcp become servers; registration and deregistration follow', async () => {
    assert.deepEqual(replicas('alpha'), ['alpha-1:healthy:1']);
    await registerService(consul, { name: 'alpha', id: 'alpha-2', port: 7002, weight: 5 });
    await registerService(consul, { name: 'not-mcp', id: 'x-1', port: 7003, tags: ['web'] });
    await until(() => replicas('alpha').length === 2, 'second instance');
    assert.deepEqual(replicas('alpha').sort(), ['alpha-1:healthy:1', 'alpha-2:healthy:5']);
    assert.equal(state.servers.has('not-mcp'), false);
    await consul.api('PUT', '/v1/agent/service/deregister/alpha-2');
    await until(() => replicas('alpha').length === 1, 'deregistered instance gone');
  });

  test('health: warning is healthy by default, critical and maintenance take traffic away', async () => {
    await setCheck(consul, 'alpha-1', 'warn');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(replicas('alpha'), ['alpha-1:healthy:1']);
    await setCheck(consul, 'alpha-1', 'fail');
    await until(() => replicas('alpha')[0] === 'alpha-1:unhealthy:1', 'critical → unhealthy');
    await setCheck(consul, 'alpha-1', 'pass');
    await until(() => replicas('alpha')[0] === 'alpha-1:healthy:1', 'passing → healthy');
    await consul.api('PUT', '/v1/agent/service/maintenance/alpha-1?enable=true&reason=test');
    await until(() => replicas('alpha')[0] === 'alpha-1:unhealthy:1', 'maintenance → unhealthy');
    await consul.api('PUT', '/v1/agent/service/maintenance/alpha-1?enable=false');
    await until(() => replicas('alpha')[0] === 'alpha-1:healthy:1', 'maintenance off');
  });

  test('a policy in KV applies; an invalid one is rejected alone and the last good stays', async () => {
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/alpha', { retry: { attempts: 4 }, warning: 'degraded' });
    await until(() => state.servers.get('alpha')?.policy.retry?.attempts === 4, 'policy applied');
    await setCheck(consul, 'alpha-1', 'warn');
    await until(() => replicas('alpha')[0] === 'alpha-1:degraded:1', 'warning → degraded by policy');
    await setCheck(consul, 'alpha-1', 'pass');
    await registerService(consul, { name: 'beta', id: 'beta-1', port: 7010 });
    await until(() => state.servers.has('beta'), 'beta');
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/alpha', { retry: { attemps: 9 } });
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/beta', { timeout: '2s' });
    await until(() => state.servers.get('beta')?.policy.timeout === 2000, 'other policy still applies');
    assert.equal(state.servers.get('alpha')?.policy.retry?.attempts, 4);
    assert.match(source.policyErrors.get('alpha') ?? '', /mcpmesh\/policy\/alpha: policy\.retry: Unrecognized key: "attemps"/);
    assert.ok(rejected.includes('policy:alpha'));
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/alpha', 'not json');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(state.servers.get('alpha')?.policy.retry?.attempts, 4);
    assert.match(source.policyErrors.get('alpha') ?? '', /not JSON/);
  });

  test('malformed service meta rejects that service alone', async () => {
    await registerService(consul, { name: 'gamma', id: 'gamma-1', port: 7020, meta: { mcp_path: 'no-slash' } });
    await registerService(consul, { name: 'delta', id: 'delta-1', port: 7030, meta: { mcp_path: '/rpc', mcp_protocol: '2026' } });
    await until(() => state.servers.has('delta'), 'good service arrives');
    assert.equal(state.servers.get('delta')?.path, '/rpc');
    assert.equal(state.servers.get('delta')?.protocol, '2026');
    assert.equal(state.servers.has('gamma'), false);
    assert.match(source.serviceErrors.get('gamma') ?? '', /mcp_path must be a path/);
    assert.ok(rejected.includes('service:gamma'));
  });

  test('Consul down: the last state stays and the source says stale; back (empty): services are held until they re-register', async () => {
    const before = [...state.servers.keys()].sort();
    await consul.kill();
    await until(() => source.status().stale, 'stale reported', 15_000);
    assert.deepEqual([...state.servers.keys()].sort(), before);
    await consul.start();
    await until(() => !source.status().stale, 'fresh again', 15_000);
    // The restarted -dev agent is empty, yet nothing was dropped.
    assert.deepEqual([...state.servers.keys()].sort(), before);
    await registerService(consul, { name: 'alpha', id: 'alpha-9', port: 7009 });
    await until(() => replicas('alpha').some((r) => r.startsWith('alpha-9')), 'a re-registered service is fresh');
    // After the grace period, services that never came back are gone.
    await until(() => !state.servers.has('beta'), 'unregistered services dropped after the grace period', 10_000);
    assert.deepEqual(replicas('alpha'), ['alpha-9:healthy:1']);
  });

  test('500 services registered at once all arrive over a bounded number of connections', async () => {
    const names = Array.from({ length: 500 }, (_, i) => `bulk-${i}`);
    let maxConnections = 0;
    const sampler = setInterval(() => (maxConnections = Math.max(maxConnections, source.connections())), 5);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((n, j) => registerService(consul, { name: n, id: `${n}-1`, port: 8000 + i + j })));
    await until(() => names.every((n) => state.servers.get(n)?.replicas.length === 1), '500 services', 60_000);
    clearInterval(sampler);
    assert.ok(maxConnections <= 7, `connections to Consul stayed within 3 watches + 4 fetchers (max seen ${maxConnections})`);
  });
});
