// The part of the fault suite that fits CI's time (all of it: `npm run faults`):
// a real mesh under 250 idempotent calls/s loses no call when an adapter
// replica is killed, hangs, or when the control plane restarts or Envoy
// rejects a config; traffic is balanced again within 5 s of the fault's end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RUN, runScenario, SCENARIOS } from '../../faults/scenarios.js';

for (const id of [1, 3, 6, 9]) {
  const scenario = SCENARIOS.find((s) => s.id === id)!;
  test(`fault ${id}: ${scenario.name}: no call fails, recovered within 5 s`, async () => {
    const r = await runScenario(scenario, DEFAULT_RUN);
    assert.ok(r.callsPerSecond >= 200, `load ${r.callsPerSecond.toFixed(0)} calls/s`);
    assert.deepEqual(r.failures, []);
    assert.ok(r.recoveryMs !== undefined && r.recoveryMs <= 5_000, `recovery ${String(r.recoveryMs)} ms`);
  });
}
