// Two fault scenarios with authentication on (fault-auth.ts: a JWT on every
// request, verified by Envoy, and per-tool rules on the fixture server): an
// adapter replica killed, and a stdio server crashing on every tenth call.
// Tokens, rules and list filtering change nothing the plain suite promises:
// no call fails, no session is lost, recovered within 5 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RUN, GENERATIONS, runScenario, SCENARIOS } from '../../faults/scenarios.js';

for (const id of [1, 5]) {
  const scenario = SCENARIOS.find((s) => s.id === id)!;
  for (const generation of GENERATIONS) {
    const what = generation === '2025' ? 'no call fails, no session is lost' : 'no call fails';
    test(`fault ${id} (${generation}) with JWT + rules: ${scenario.name}: ${what}, recovered within 5 s`, async () => {
      const r = await runScenario(scenario, { ...DEFAULT_RUN, auth: true }, generation);
      assert.ok(r.callsPerSecond >= 200, `load ${r.callsPerSecond.toFixed(0)} calls/s`);
      assert.deepEqual(r.failures, []);
      // Every call of the load was verified and checked by the rules (Envoy's counters; probes and session set-up add more).
      assert.ok(
        r.authAllowed !== undefined && r.authAllowed.jwt >= r.calls && r.authAllowed.rbac >= r.calls,
        JSON.stringify(r.authAllowed),
      );
      if (generation === '2025')
        assert.equal(r.sessionsLost, 0, `${String(r.sessionsLost)} of ${String(r.sessions)} sessions lost; ${r.notes.join('; ')}`);
      assert.ok(r.recoveryMs !== undefined && r.recoveryMs <= 5_000, `recovery ${String(r.recoveryMs)} ms`);
    });
  }
}
