// Whose sampling decision counts when the agent sends one, through a real
// Envoy, a real adapter and a real Jaeger v2 with Envoy's tracer on at 0%:
// Envoy's percentage decides also for an agent's context that says sampled
// (it is kept as the parent, its trace id in the access log, and not
// recorded), while an agent's unsampled context stays unsampled even at 100%
// (tracing-unsampled.test.ts). docs/observability.md, "Where the trace context
// comes from".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTracingProbe, type TracingProbe } from '../../support/tracing-probe.js';
import { until } from '../../support/wait.js';

let probe: TracingProbe;

before(async () => {
  probe = await startTracingProbe(0);
});

after(async () => {
  await probe?.stop();
});

test("at 0%, an agent's sampled context is not recorded: Envoy's percentage decides, the agent's trace id is kept", async () => {
  const before = await probe.settledSpansSent();
  const traceId = 'e5'.repeat(16);
  const { serverSaw } = await probe.call(`00-${traceId}-${'f6'.repeat(8)}-01`);
  // The adapter follows the -00 Envoy sent it: no span, nothing spliced.
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await probe.settledSpansSent(), before);
  await until(() => probe.accessLogTraceIds().includes(traceId), "the access log line with the agent's trace id");
});
