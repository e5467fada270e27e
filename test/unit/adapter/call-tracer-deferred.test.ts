// The adapter's span is built after the call's answer has gone out: what is
// exported must still be the span whose ids the server got in `_meta` and the
// latency histogram's exemplar named, with the call's own start and end times.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createAdapterMetrics } from '../../../adapter/metrics.js';
import { type CallSpan, type CallSpanInfo, CallTracer } from '../../../adapter/tracing.js';
import { UNTRACED_TRACEPARENT } from '../../../lib/mesh-contracts.js';

const INFO: CallSpanInfo = {
  server: 's',
  method: 'tools/call',
  tool: 'echo',
  generation: '2026-07-28',
  attempt: 2,
  jsonrpcId: '"a"',
  agent: 'spiffe://mesh/agent',
};
const TRACE = 'ab'.repeat(16);
const PARENT = 'cd'.repeat(8);
const ENVOY = `00-${TRACE}-${PARENT}-01`;

/** The SDK's in-memory exporter, keeping its spans past the tracer's shutdown (which flushes the batch to it). */
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return this.forceFlush();
  }
}

function tracer(sampling: number): { tracer: CallTracer; exported: InMemorySpanExporter } {
  const exported = new KeptSpans();
  // The collector is never asked: the spans go to the SDK's in-memory exporter.
  return { tracer: new CallTracer({ collector: 'http://127.0.0.1:9', sampling, serviceName: 't' }, exported), exported };
}

function metaContext(span: CallSpan): { traceId: string; spanId: string; flags: string; members: Record<string, unknown> } {
  const members = Object.fromEntries(span.meta.map(([k, v]) => [k, JSON.parse(v) as unknown]));
  const [version, traceId, spanId, flags] = String(members['traceparent']).split('-');
  assert.equal(version, '00');
  return { traceId: traceId!, spanId: spanId!, flags: flags!, members };
}

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // The answer's socket write and whatever else runs before the event loop turns.
  }
}

const turn = () => new Promise((r) => setImmediate(r));

test("the span exported is the one whose ids went into `_meta` and the exemplar, with the call's times", async () => {
  const { tracer: t, exported } = tracer(0);
  const metrics = createAdapterMetrics('s');
  const wallBefore = Date.now();
  const beforeStart = performance.now();
  const span = t.start({ traceparent: ENVOY, tracestate: 'vendor=1' }, undefined, INFO)!;
  const afterStart = performance.now();
  const wallAfter = Date.now();
  assert.ok(span !== undefined, 'a sampled parent is traced');
  const sent = metaContext(span);
  busy(5);
  span.written(3);
  busy(10);
  const beforeEnd = performance.now();
  span.end('ok', false);
  const afterEnd = performance.now();
  metrics.recordCall('tools/call', 'echo', 'ok', false, 0.015, span.traceId);
  // What runs after `end` in the same turn (the rest of the answer's I/O) is not the span's time.
  busy(30);
  await turn();
  await t.shutdown();

  const spans = exported.getFinishedSpans();
  assert.equal(spans.length, 1);
  const s = spans[0]!;
  assert.equal(s.spanContext().traceId, TRACE, "Envoy's trace");
  assert.equal(s.parentSpanContext?.spanId, PARENT, "Envoy's span is the parent");
  assert.equal(s.spanContext().traceFlags, 1);
  assert.equal(s.spanContext().traceState?.serialize(), 'vendor=1');
  assert.deepEqual(
    { traceId: sent.traceId, spanId: sent.spanId, flags: sent.flags },
    { traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, flags: '01' },
    'the server was told this span',
  );
  assert.equal(sent.members['tracestate'], 'vendor=1');
  assert.equal(span.traceId, TRACE);
  assert.equal(span.spanId, s.spanContext().spanId);
  const exemplar = /mcpmesh_adapter_call_duration_seconds_bucket\{[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})"\}/.exec(
    await metrics.openMetrics.metrics(),
  );
  assert.equal(exemplar?.[1], s.spanContext().traceId, 'the exemplar names this trace');

  assert.equal(s.name, 'tools/call echo');
  assert.equal(s.kind, SpanKind.SERVER);
  assert.deepEqual(s.links, []);
  assert.equal(s.status.code, SpanStatusCode.UNSET);
  const start = hrTimeToMilliseconds(s.startTime);
  const end = hrTimeToMilliseconds(s.endTime);
  assert.ok(start >= wallBefore && start <= wallAfter + 1, `started when the call did (${start} in ${wallBefore}..${wallAfter})`);
  // The span lasts from inside `start` to inside `end`: not until it was built, 30 ms and a turn of the event loop later.
  const lasted = end - start;
  const slack = 0.001; // the SDK's nanosecond conversion
  assert.ok(
    lasted >= beforeEnd - afterStart - slack && lasted <= afterEnd - beforeStart + slack,
    `ended when the call did (${lasted} ms, within ${beforeEnd - afterStart}..${afterEnd - beforeStart})`,
  );
  const a = s.attributes;
  assert.equal(a['mcpmesh.process.slot'], 3);
  const wait = a['mcpmesh.queue_wait_ms'] as number;
  const server = a['mcpmesh.server_time_ms'] as number;
  assert.ok(wait >= 5 && server >= 10, `queue wait ${wait}, server time ${server}`);
  assert.ok(Math.abs(wait + server - (end - start)) < 0.01, 'the two parts make up the span');
  assert.deepEqual(
    { ...a, 'mcpmesh.queue_wait_ms': 0, 'mcpmesh.server_time_ms': 0 },
    {
      'mcp.method.name': 'tools/call',
      'mcp.protocol.version': '2026-07-28',
      'mcpmesh.server': 's',
      'mcpmesh.protocol.generation': 'stateless',
      'mcpmesh.attempt': 2,
      'jsonrpc.request.id': '"a"',
      'gen_ai.tool.name': 'echo',
      'mcpmesh.agent': 'spiffe://mesh/agent',
      'mcpmesh.process.slot': 3,
      'mcpmesh.queue_wait_ms': 0,
      'mcpmesh.server_time_ms': 0,
      'mcpmesh.outcome': 'ok',
    },
  );
});

test('a root span (no parent, root sampling) keeps the trace and span ids chosen at its start', async () => {
  const { tracer: t, exported } = tracer(100);
  const span = t.start({}, undefined, { ...INFO, tool: undefined, method: 'tools/list' })!;
  const sent = metaContext(span);
  span.end('timeout', true);
  await t.shutdown();
  const [s] = exported.getFinishedSpans() as ReadableSpan[];
  assert.ok(s !== undefined);
  assert.match(sent.traceId, /^[0-9a-f]{32}$/);
  assert.match(sent.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(sent.traceId, '0'.repeat(32));
  assert.deepEqual([s.spanContext().traceId, s.spanContext().spanId], [sent.traceId, sent.spanId]);
  assert.equal(s.parentSpanContext, undefined);
  assert.equal(s.name, 'tools/list');
  assert.deepEqual(s.status, { code: SpanStatusCode.ERROR, message: 'timeout' });
  assert.equal(s.attributes['error.type'], 'timeout');
  assert.equal(s.attributes['mcpmesh.retryable'], true);
  assert.equal(s.attributes['mcpmesh.process.slot'], undefined, 'never written: no queue wait');
});

test("an agent's `_meta` context is the parent and Envoy's span a link, as decided at the start", async () => {
  const { tracer: t, exported } = tracer(0);
  const agentTrace = 'ef'.repeat(16);
  const agentSpan = '12'.repeat(8);
  const span = t.start(
    { traceparent: `00-${TRACE}-${PARENT}-00` },
    { traceparent: `00-${agentTrace}-${agentSpan}-01`, baggage: 'k=v' },
    INFO,
  )!;
  const sent = metaContext(span);
  span.end('tool_error', false);
  await t.shutdown();
  const [s] = exported.getFinishedSpans() as ReadableSpan[];
  assert.ok(s !== undefined);
  assert.deepEqual([s.spanContext().traceId, s.spanContext().spanId], [agentTrace, sent.spanId]);
  assert.equal(s.parentSpanContext?.spanId, agentSpan);
  assert.equal(sent.members['baggage'], 'k=v');
  assert.equal(s.links.length, 1);
  assert.equal(s.links[0]!.context.spanId, PARENT);
  assert.deepEqual(s.links[0]!.attributes, { 'mcpmesh.link': 'proxy' });
  assert.equal(s.status.code, SpanStatusCode.UNSET, 'a tool error is the tool answering');
});

test("an agent's `_meta` context behind an Envoy that did not trace the request: the parent, and no link (Envoy's context names no span)", async () => {
  const { tracer: t, exported } = tracer(0);
  const agentSpan = '34'.repeat(8);
  const span = t.start({ traceparent: UNTRACED_TRACEPARENT }, { traceparent: `00-${'ef'.repeat(16)}-${agentSpan}-01` }, INFO)!;
  span.end('ok', false);
  await t.shutdown();
  const [s] = exported.getFinishedSpans() as ReadableSpan[];
  assert.equal(s?.parentSpanContext?.spanId, agentSpan);
  assert.deepEqual(s?.links, []);
});

test('shutdown records the spans still waiting for the event loop: none is lost', async () => {
  const { tracer: t, exported } = tracer(0);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const span = t.start({ traceparent: ENVOY }, undefined, INFO)!;
    ids.push(span.spanId);
    span.end('ok', false);
  }
  // No turn of the event loop between the calls' end and the stop.
  await t.shutdown();
  assert.deepEqual(
    exported
      .getFinishedSpans()
      .map((s) => s.spanContext().spanId)
      .sort(),
    ids.sort(),
  );
  assert.equal(new Set(ids).size, 5, 'each span its own id');
});

test('a span ended twice is recorded once', async () => {
  const { tracer: t, exported } = tracer(0);
  const span = t.start({ traceparent: ENVOY }, undefined, INFO)!;
  span.end('ok', false);
  span.end('cancelled', false);
  await t.shutdown();
  assert.equal(exported.getFinishedSpans().length, 1);
  assert.equal(exported.getFinishedSpans()[0]!.attributes['mcpmesh.outcome'], 'ok');
});
