// What Envoy's tracer does with requests it will not record, through a real
// Envoy, a real adapter and a real Jaeger v2, at 100% sampling: an agent's
// unsampled context is kept (Envoy exports nothing, the access log carries the
// agent's trace id), and a traceparent Envoy cannot parse gets no span at all
// (no trace id in the access log): the only request a tracing Envoy builds no
// span for (docs/observability.md, "Cost"). A sampled call beside them shows
// that the counter read here does move.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTracingProbe, type TracingProbe } from '../../support/tracing-probe.js';
import { until } from '../../support/wait.js';

let probe: TracingProbe;

before(async () => {
  probe = await startTracingProbe(100);
});

after(async () => {
  await probe?.stop();
});

test("a sampled agent context: Envoy's two spans are sent and the server gets the call's context (the counter moves)", async () => {
  const before = await probe.settledSpansSent();
  const traceId = 'a1'.repeat(16);
  const { serverSaw } = await probe.call(`00-${traceId}-${'b2'.repeat(8)}-01`);
  assert.match(String(serverSaw['traceparent']), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  assert.equal((await probe.settledSpansSent()) - before, 2, 'the request span and the try span');
});

test("an agent's unsampled context at 100%: Envoy records nothing and keeps the agent's trace id", async () => {
  const before = await probe.settledSpansSent();
  const traceId = 'c3'.repeat(16);
  const { serverSaw } = await probe.call(`00-${traceId}-${'d4'.repeat(8)}-00`);
  // The adapter follows the -00 it got: no span, nothing spliced.
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await probe.settledSpansSent(), before);
  await until(() => probe.accessLogTraceIds().includes(traceId), "the access log line with the agent's trace id");
});

test('a traceparent Envoy cannot parse: no span at all (no trace id in the access log), nothing recorded', async () => {
  const before = await probe.settledSpansSent();
  const linesBefore = probe.accessLogTraceIds().length;
  const { serverSaw } = await probe.call('not-a-traceparent');
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await probe.settledSpansSent(), before);
  let ids: string[] = [];
  await until(() => {
    ids = probe.accessLogTraceIds();
    return ids.length > linesBefore;
  }, 'the access log line');
  // A request with a span, sampled or not, has its trace id here; this one has none.
  assert.ok(['null', '-', ''].includes(ids[ids.length - 1]!), `trace_id ${ids[ids.length - 1]}`);
});
