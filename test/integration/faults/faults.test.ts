// The part of the fault suite that fits CI's time (all of it: `npm run faults`):
// a real mesh under 250 idempotent calls/s loses no call when an adapter
// replica is killed, hangs, its server crashes on every tenth call, or when the control plane restarts or Envoy
// rejects a config, and recovers within 5 s of the fault's end. For both
// protocol generations: 2026-07-28 stateless calls (recovered: traffic is
// balanced across the replicas again), and 2025-era sessions through the
// official SDK 1.x client as it is, of which none may be lost, since the
// client does not re-initialize on a 404 (recovered: every session's calls
// answer again; sessions stay where they were moved, see session-load.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RUN, GENERATIONS, runScenario, SCENARIOS } from '../../faults/scenarios.js';

for (const id of [1, 3, 5, 6, 9]) {
  const scenario = SCENARIOS.find((s) => s.id === id)!;
  for (const generation of GENERATIONS) {
    const what = generation === '2025' ? 'no call fails, no session is lost' : 'no call fails';
    test(`fault ${id} (${generation}): ${scenario.name}: ${what}, recovered within 5 s`, async () => {
      const r = await runScenario(scenario, DEFAULT_RUN, generation);
      assert.ok(r.callsPerSecond >= 200, `load ${r.callsPerSecond.toFixed(0)} calls/s`);
      assert.deepEqual(r.failures, []);
      if (generation === '2025')
        assert.equal(r.sessionsLost, 0, `${String(r.sessionsLost)} of ${String(r.sessions)} sessions lost; ${r.notes.join('; ')}`);
      assert.ok(r.recoveryMs !== undefined && r.recoveryMs <= 5_000, `recovery ${String(r.recoveryMs)} ms`);
    });
  }
}
