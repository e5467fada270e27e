// `mcpmesh up` gives Envoy one worker on hosts of up to two cores, two above.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upEnvoyWorkers } from '../../../envoy/envoy-workers.js';

test('one worker on one or two cores', () => {
  assert.equal(upEnvoyWorkers(1), 1);
  assert.equal(upEnvoyWorkers(2), 1);
});

test('two workers on larger hosts, whatever their size', () => {
  assert.equal(upEnvoyWorkers(3), 2);
  assert.equal(upEnvoyWorkers(64), 2);
});
