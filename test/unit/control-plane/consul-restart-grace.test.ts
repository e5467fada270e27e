// After a Consul restart, replicas keep their last good state until they are
// seen again with a check that is not critical; after that their own state,
// absence included, counts. The mesh settings are held with them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { MeshSettings } from '../../../control-plane/catalog/mesh-schema.js';
import type { Replica, ServerSpec } from '../../../control-plane/catalog/model.js';
import { RestartGrace, withHeldReplicas } from '../../../control-plane/sources/consul-restart-grace.js';

const replica = (id: string, health: Replica['health'] = 'healthy'): Replica => ({
  id,
  host: '127.0.0.1',
  port: 1000 + Number(id.slice(1)),
  health,
  weight: 1,
});
const spec = (...replicas: Replica[]): ServerSpec => ({ name: 'svc', path: '/mcp', protocol: 'auto', tls: false, replicas, policy: {} });
const ids = (s: ServerSpec | undefined) => s?.replicas.map((r) => `${r.id}:${r.health}`);

test('a service not back yet keeps its last good replicas', () => {
  assert.deepEqual(ids(withHeldReplicas(undefined, spec(replica('r1'), replica('r2')), new Set())), ['r1:healthy', 'r2:healthy']);
});

test('a replica back with a critical check (not run yet) keeps its last good state; the others too', () => {
  const released = new Set<string>();
  assert.deepEqual(ids(withHeldReplicas(spec(replica('r1', 'unhealthy')), spec(replica('r1'), replica('r2')), released)), [
    'r1:healthy',
    'r2:healthy',
  ]);
  assert.equal(released.size, 0);
});

test('once back passing, a replica is released: its later states count, absence included', () => {
  const held = spec(replica('r1'), replica('r2'));
  const released = new Set<string>();
  assert.deepEqual(ids(withHeldReplicas(spec(replica('r1'), replica('r2')), held, released)), ['r1:healthy', 'r2:healthy']);
  assert.deepEqual(ids(withHeldReplicas(spec(replica('r1', 'unhealthy')), held, released)), ['r1:unhealthy']);
  assert.equal(withHeldReplicas(undefined, held, released), undefined);
});

test('new replicas are taken as they are', () => {
  assert.deepEqual(ids(withHeldReplicas(spec(replica('r3', 'unhealthy')), spec(replica('r1')), new Set())), ['r1:healthy', 'r3:unhealthy']);
});

test('the mesh settings are held with the servers: a restarted Consul without them keeps the last ones until the grace ends', async () => {
  const logger = pino({ level: 'silent' });
  const grace = new RestartGrace({ graceMs: 50, logger, ended: () => {} });
  const mesh: MeshSettings = { accessLog: { sampling: 50 } };
  grace.deliver(new Map([['svc', spec(replica('r1'))]]), () => 0);
  assert.equal(grace.deliverMesh(mesh), mesh);
  grace.begin();
  // The KV came back empty: the held servers keep the settings their policies were made for.
  assert.equal(grace.deliverMesh(undefined), mesh);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(grace.deliverMesh(undefined), undefined, 'the grace over, what Consul holds counts');
  grace.stop();
});

test('settings written again into the restarted Consul count at once, and so does their removal after that', () => {
  const grace = new RestartGrace({ graceMs: 60_000, logger: pino({ level: 'silent' }), ended: () => {} });
  grace.deliver(new Map([['svc', spec(replica('r1'))]]), () => 0);
  grace.deliverMesh({ accessLog: { sampling: 50 } });
  grace.begin();
  const again: MeshSettings = { accessLog: { sampling: 10 } };
  assert.equal(grace.deliverMesh(again), again);
  assert.equal(grace.deliverMesh(undefined), undefined);
  grace.stop();
});

test('without a restart, mesh settings removed from KV are gone at once', () => {
  const grace = new RestartGrace({ graceMs: 60_000, logger: pino({ level: 'silent' }), ended: () => {} });
  grace.deliver(new Map([['svc', spec(replica('r1'))]]), () => 0);
  grace.deliverMesh({ accessLog: { sampling: 10 } });
  assert.equal(grace.deliverMesh(undefined), undefined);
  grace.stop();
});
