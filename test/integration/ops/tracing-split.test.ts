// Below 100% the listener agents reach does not trace and the requests to be
// traced take the traced internal listener (control-plane/envoy/trace-split.ts),
// through a real Envoy fed by the control plane, a real adapter and a real
// Jaeger v2, at 99.99% (below 100%, so the control plane builds the split),
// with the split route's draw set to every request through Envoy's runtime, so
// that a call without a context is always traced: it is one trace with
// Envoy's two spans and one access log line carrying its trace id; an agent's
// unsampled context goes upstream as sent, untraced, and its line has no trace id.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { statValue } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { startTracingProbe, type TracingProbe } from '../../support/tracing-probe.js';
import { until } from '../../support/wait.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

let probe: TracingProbe;

before(async () => {
  probe = await startTracingProbe(99.99);
  // The split route's runtime key (trace-split.ts), in parts per million: one request in ten thousand left untraced would fail the first test.
  const res = await fetch(`${probe.mesh.adminUrl}/runtime_modify?mcpmesh.tracing.sampling=1000000`, { method: 'POST' });
  assert.equal(res.status, 200, await res.text());
});

after(async () => {
  await probe?.stop();
});

async function linesAfter(count: number): Promise<string[]> {
  let ids: string[] = [];
  await until(() => {
    ids = probe.accessLogTraceIds();
    return ids.length > count;
  }, 'the access log line');
  // Envoy flushes the log every second: a second line for the same request would be there by now.
  await new Promise((r) => setTimeout(r, 1_500));
  return probe.accessLogTraceIds().slice(count);
}

test('a call without a context: traced on the internal listener, two Envoy spans, one access log line with its trace id', async () => {
  const spans = await probe.settledSpansSent();
  const lines = probe.accessLogTraceIds().length;
  const tracedBefore = await statValue(probe.mesh.adminUrl, 'http.mcp_egress_traced.downstream_rq_total');
  const res = await postToolCall(probe.mesh.agentUrl('fixture'), 'trace_context', {}, { id: 1 });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const saw = (JSON.parse(text) as { result: { structuredContent: { traceparent: string | null } } }).result.structuredContent;
  const m = TRACEPARENT.exec(saw.traceparent ?? '');
  assert.ok(m, `the server got a sampled context: ${JSON.stringify(saw)}`);
  assert.equal((await probe.settledSpansSent()) - spans, 2, "Envoy's request span and its try span");
  assert.deepEqual(await linesAfter(lines), [m[1]], 'one line, with the trace id');
  assert.equal((await statValue(probe.mesh.adminUrl, 'http.mcp_egress_traced.downstream_rq_total')) - tracedBefore, 1);
});

test("an agent's unsampled context: untraced on the listener agents reach, the server gets nothing spliced, one line without a trace id", async () => {
  const spans = await probe.settledSpansSent();
  const lines = probe.accessLogTraceIds().length;
  const tracedBefore = await statValue(probe.mesh.adminUrl, 'http.mcp_egress_traced.downstream_rq_total');
  const { serverSaw } = await probe.call(`00-${'c3'.repeat(16)}-${'d4'.repeat(8)}-00`);
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await probe.settledSpansSent(), spans);
  const got = await linesAfter(lines);
  assert.equal(got.length, 1, JSON.stringify(got));
  assert.ok(['null', '-', ''].includes(got[0]!), `trace_id ${got[0]}`);
  assert.equal(await statValue(probe.mesh.adminUrl, 'http.mcp_egress_traced.downstream_rq_total'), tracedBefore);
});
