// One tool call followed end to end through a real Envoy and two adapters into
// a real Jaeger v2: Envoy's spans (the request and each try upstream), the
// adapter's span per try, and the context the stdio server saw, in one trace;
// for both protocol generations, for a retried call, for an agent's own
// traceparent (header, or `_meta` alone); the access log line of the call; and
// the latency histogram's exemplar naming a trace Jaeger has.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { connectClient, type Era, endSession, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type Jaeger, type JaegerSpan, startJaeger, tag } from '../../support/jaeger.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { envoyTracesAtOnce } from '../../support/tracing-probe.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

let jaeger: Jaeger;
let adapters: AdapterHandle[] = [];
let mesh: Mesh;
let dir: string;
let accessLog: string;

before(async () => {
  jaeger = await startJaeger();
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-tracing-'));
  accessLog = join(dir, 'access.log');
  const tracing = { collector: jaeger.otlpUrl, sampling: 0, exportDelayMs: 100 };
  adapters = await Promise.all([startFixtureAdapter({ tracing }), startFixtureAdapter({ tracing })]);
  mesh = await startMesh({
    config: { servers: [{ name: 'fixture', replicas: adapters.map((a) => a.url) }] },
    observability: { tracing: { collector: jaeger.otlpUrl, sampling: 100 }, accessLog: { path: accessLog } },
  });
  await envoyTracesAtOnce(mesh);
});

after(async () => {
  await mesh?.stop();
  await Promise.all(adapters.map((a) => a.shutdown()));
  await jaeger?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The trace once Jaeger holds at least what `complete` asks for. */
async function traceOf(traceId: string, complete: (spans: JaegerSpan[]) => boolean, what: string): Promise<JaegerSpan[]> {
  let spans: JaegerSpan[] = [];
  await until(
    async () => {
      spans = await jaeger.trace(traceId);
      return complete(spans);
    },
    `${what} in Jaeger (trace ${traceId}: ${spans.length} spans)`,
    20_000,
    100,
  );
  return spans;
}

const envoySpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-envoy');
const adapterSpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-adapter');
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

let nextId = 1;
async function post(
  params: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': String(params['name']),
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: { ...params, _meta: { ...META, ...(params['_meta'] as object | undefined) } },
    }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
}

function seen(result: unknown): { traceparent: string | null; tracestate: string | null; baggage: string | null } {
  return (result as { structuredContent: { traceparent: string | null; tracestate: string | null; baggage: string | null } })
    .structuredContent;
}

for (const era of ['2026', '2025'] as Era[]) {
  test(`${era}: one tool call is one trace: Envoy's spans, the adapter's span below them, and the server's context below that`, async () => {
    const client = await connectClient(mesh.agentUrl('fixture'), era);
    try {
      const result = await client.callTool({ name: 'trace_context', arguments: {} });
      const ctx = seen(result);
      const m = TRACEPARENT.exec(ctx.traceparent ?? '');
      assert.ok(m, `the server got a sampled traceparent in _meta: ${JSON.stringify(ctx)}`);
      const [, traceId, serverParent] = m;
      const spans = await traceOf(
        traceId!,
        (s) => envoySpans(s).length >= 2 && adapterSpans(s).length >= 1,
        "Envoy's two spans and the adapter's",
      );
      const adapter = adapterSpans(spans).find((s) => tag(s, 'gen_ai.tool.name') === 'trace_context')!;
      assert.ok(adapter, 'the adapter span of the call');
      assert.equal(adapter.spanID, serverParent, "the server's parent is the adapter's span");
      assert.equal(adapter.operationName, 'tools/call trace_context');
      const upstream = envoySpans(spans).find((s) => s.spanID === parentOf(adapter));
      assert.ok(
        upstream,
        `the adapter span is a child of an Envoy span (${JSON.stringify(envoySpans(spans).map((s) => [s.operationName, s.spanID]))})`,
      );
      const request = envoySpans(spans).find((s) => s.spanID === parentOf(upstream));
      assert.ok(request, "Envoy's upstream span is a child of its request span");
      assert.equal(tag(adapter, 'mcpmesh.server'), 'fixture');
      assert.equal(tag(adapter, 'mcp.method.name'), 'tools/call');
      assert.equal(tag(adapter, 'mcpmesh.outcome'), 'ok');
      assert.equal(tag(adapter, 'mcpmesh.attempt'), 1);
      assert.equal(tag(adapter, 'mcpmesh.protocol.generation'), era === '2026' ? 'stateless' : 'session');
      assert.equal(typeof tag(adapter, 'mcpmesh.process.slot'), 'number');
      assert.equal(typeof tag(adapter, 'mcpmesh.queue_wait_ms'), 'number');
      assert.equal(typeof tag(adapter, 'mcpmesh.server_time_ms'), 'number');
      if (era === '2025') assert.match(String(tag(adapter, 'mcp.protocol.version')), /^2025-/);
    } finally {
      await endSession(client);
    }
  });
}

test("an agent's own traceparent header stays the parent, and its tracestate and baggage reach the server", async () => {
  const traceId = 'a1'.repeat(16);
  const agentSpan = 'b2'.repeat(8);
  const r = await post(
    { name: 'trace_context', arguments: {} },
    { traceparent: `00-${traceId}-${agentSpan}-01`, tracestate: 'agent=1', baggage: 'user=ada' },
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const ctx = seen(r.body['result']);
  assert.equal(TRACEPARENT.exec(ctx.traceparent ?? '')?.[1], traceId, 'the server is in the agent trace');
  assert.equal(ctx.tracestate, 'agent=1');
  assert.equal(ctx.baggage, 'user=ada');
  const spans = await traceOf(traceId, (s) => envoySpans(s).length >= 2 && adapterSpans(s).length >= 1, 'the call');
  const root = envoySpans(spans).find((s) => parentOf(s) === agentSpan);
  assert.ok(root, "Envoy's request span is a child of the agent's span");
});

test("an agent's traceparent in _meta alone (SEP-414): the adapter keeps the call in the agent's trace and links Envoy's", async () => {
  const traceId = 'c3'.repeat(16);
  const agentSpan = 'd4'.repeat(8);
  const r = await post({
    name: 'trace_context',
    arguments: {},
    _meta: { traceparent: `00-${traceId}-${agentSpan}-01`, baggage: 'user=grace' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const ctx = seen(r.body['result']);
  const m = TRACEPARENT.exec(ctx.traceparent ?? '');
  assert.equal(m?.[1], traceId, `the server is in the agent's trace: ${JSON.stringify(ctx)}`);
  assert.equal(ctx.baggage, 'user=grace');
  const spans = await traceOf(traceId, (s) => adapterSpans(s).length >= 1, "the adapter's span");
  const adapter = adapterSpans(spans)[0]!;
  assert.equal(parentOf(adapter), agentSpan, "the adapter span's parent is the agent's span");
  assert.equal(adapter.spanID, m?.[2]);
  const link = adapter.references.find((x) => x.refType === 'FOLLOWS_FROM');
  assert.ok(link && link.traceID !== traceId, `a link to Envoy's span in Envoy's own trace (${JSON.stringify(adapter.references)})`);
  const envoyTrace = await traceOf(link.traceID, (s) => envoySpans(s).some((x) => x.spanID === link.spanID), "Envoy's linked span");
  assert.ok(envoyTrace.length >= 2);
});

test('a call retried after its server process is killed shows both tries, each with its own spans; its access log line says so', async () => {
  const traceId = 'e5'.repeat(16);
  // Only the mesh sets the identity header: one a client sends is removed at
  // Envoy's listener (this server requires no token, so none is set);
  // security/agent-identity.test.ts shows a verified one in the log.
  const agent = 'agent-7';
  const pending = post(
    { name: 'trace_context', arguments: { ms: 1_500 } },
    { traceparent: `00-${traceId}-${'f6'.repeat(8)}-01`, 'x-mcpmesh-agent': agent },
  );
  // The replica whose process holds the call: kill that process from outside.
  let victim: AdapterHandle | undefined;
  await until(async () => {
    for (const a of adapters) {
      const text = await (await fetch(a.url.replace(/\/mcp$/, '/metrics'))).text();
      if (/mcpmesh_adapter_calls_in_flight\{server="fixture"\} 1/.test(text)) victim = a;
    }
    return victim !== undefined;
  }, 'the call in flight on a replica');
  for (const pid of victim!.processIds()) process.kill(pid, 'SIGKILL');
  const r = await pending;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const spans = await traceOf(traceId, (s) => adapterSpans(s).length >= 2 && envoySpans(s).length >= 3, 'both tries');
  const tries = adapterSpans(spans).sort((a, b) => Number(tag(a, 'mcpmesh.attempt')) - Number(tag(b, 'mcpmesh.attempt')));
  assert.deepEqual(
    tries.map((s) => [tag(s, 'mcpmesh.attempt'), tag(s, 'mcpmesh.outcome')]),
    [
      [1, 'crashed'],
      [2, 'ok'],
    ],
  );
  assert.equal(tag(tries[0]!, 'mcpmesh.retryable'), true);
  assert.equal(tag(tries[1]!, 'mcpmesh.agent'), undefined, 'a client-sent identity header never reaches the adapter');
  const upstreamOf = tries.map((t) => envoySpans(spans).find((s) => s.spanID === parentOf(t)));
  assert.ok(upstreamOf[0] && upstreamOf[1] && upstreamOf[0].spanID !== upstreamOf[1].spanID, 'each try has its own Envoy upstream span');
  assert.equal(parentOf(upstreamOf[0]), parentOf(upstreamOf[1]), 'below one request span');

  // The access log line of that call.
  let line: Record<string, unknown> | undefined;
  await until(() => {
    const lines = readFileSync(accessLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes(traceId));
    if (lines.length > 0) line = JSON.parse(lines[0]!) as Record<string, unknown>;
    return line !== undefined;
  }, 'the access log line');
  const l = line!;
  assert.equal(l['agent'], null, 'a client-sent identity header never reaches the access log');
  assert.equal(l['server'], 'fixture');
  assert.equal(l['method'], 'tools/call');
  assert.equal(l['tool'], 'trace_context');
  assert.equal(l['route'], 'fixture/tool/trace_context');
  assert.equal(l['response_code'], 200);
  assert.equal(l['response_flags'], '-');
  assert.equal(l['attempts'], 2);
  assert.equal(l['trace_id'], traceId);
  assert.ok(
    adapters.some((a) => a.url.includes(String(l['upstream_host']))),
    `upstream_host ${String(l['upstream_host'])} is a replica`,
  );
  assert.equal(typeof l['bytes_received'], 'number');
  assert.ok(Number(l['bytes_sent']) > 0);
  assert.ok(Number(l['duration_ms']) >= 1_500, `duration ${String(l['duration_ms'])} ms`);
  assert.match(String(l['time']), /^\d{4}-\d\d-\d\dT/);
});

test('the latency histogram carries trace ids as exemplars (OpenMetrics), and Jaeger has those traces', async () => {
  const client = await connectClient(mesh.agentUrl('fixture'), '2026');
  try {
    await client.callTool({ name: 'trace_context', arguments: {} });
  } finally {
    await client.close();
  }
  const exemplars: string[] = [];
  for (const a of adapters) {
    const res = await fetch(a.url.replace(/\/mcp$/, '/metrics'), {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5' },
    });
    assert.match(res.headers.get('content-type') ?? '', /application\/openmetrics-text/);
    const text = await res.text();
    assert.ok(text.endsWith('# EOF\n'));
    assert.match(text, /^mcpmesh_adapter_calls_total\{/m, 'counters keep their _total samples');
    for (const m of text.matchAll(
      /^mcpmesh_adapter_call_duration_seconds_bucket\{[^}]*tool="trace_context"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})"\} [\d.e-]+ [\d.]+$/gm,
    ))
      exemplars.push(m[1]!);
    // The Prometheus format is untouched, exemplars and all.
    const plain = await (await fetch(a.url.replace(/\/mcp$/, '/metrics'))).text();
    assert.match(plain, /^mcpmesh_adapter_calls_total\{/m);
    assert.doesNotMatch(plain, /trace_id=/);
  }
  assert.ok(exemplars.length > 0, 'a bucket names a trace');
  const spans = await traceOf(exemplars[0]!, (s) => adapterSpans(s).length >= 1, 'the exemplar trace');
  assert.ok(spans.length >= 1);
});
