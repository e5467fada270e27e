// Waiting for the pool to go idle while draining: at once when idle, at the
// next idle report, or false at the deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PoolDrain } from '../../../adapter/pool/pool-drain.js';

test('draining is off until begun', () => {
  const drain = new PoolDrain();
  assert.equal(drain.active, false);
  drain.begin();
  assert.equal(drain.active, true);
});

test('an idle pool is idle at once', async () => {
  assert.equal(await new PoolDrain().waitIdle(true, 10_000), true);
});

test('a busy pool is idle when it reports so, before the deadline', async () => {
  const drain = new PoolDrain();
  const waiting = drain.waitIdle(false, 10_000);
  drain.idle();
  assert.equal(await waiting, true);
});

test('a pool still busy at the deadline is not idle', async () => {
  const drain = new PoolDrain();
  const started = performance.now();
  assert.equal(await drain.waitIdle(false, 30), false);
  assert.ok(performance.now() - started >= 25);
});
