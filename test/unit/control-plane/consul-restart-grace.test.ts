// After a Consul restart, replicas keep their last good state until they are
// seen again with a check that is not critical; after that their own state,
// absence included, counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Replica, ServerSpec } from '../../../control-plane/catalog/model.js';
import { withHeldReplicas } from '../../../control-plane/sources/consul-restart-grace.js';

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
