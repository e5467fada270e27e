// What Envoy's tracer does with requests it will not record, through a real
// Envoy, a real adapter and a real Jaeger v2, at 100% sampling: an agent's
// unsampled context is kept (Envoy exports nothing, the access log carries the
// agent's trace id), and a traceparent Envoy cannot parse gets no span at all
// (no trace id in the access log): the only request a tracing Envoy builds no
// span for (docs/observability.md, "Cost"). A sampled call beside them shows
// that the counter read here does move.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type Jaeger, startJaeger } from '../../support/jaeger.js';
import { type Mesh, startMesh, statValue } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const SPANS_SENT = 'tracing.opentelemetry.spans_sent';

let jaeger: Jaeger;
let adapter: AdapterHandle;
let mesh: Mesh;
let dir: string;
let accessLog: string;

before(async () => {
  jaeger = await startJaeger();
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-unsampled-'));
  accessLog = join(dir, 'access.log');
  adapter = await startFixtureAdapter({ tracing: { collector: jaeger.otlpUrl, sampling: 0, exportDelayMs: 100 } });
  mesh = await startMesh({
    config: { servers: [{ name: 'fixture', replicas: [adapter.url] }] },
    observability: { tracing: { collector: jaeger.otlpUrl, sampling: 100 }, accessLog: { path: accessLog } },
  });
  for (const kv of ['tracing.opentelemetry.flush_interval_ms=100', 'tracing.opentelemetry.min_flush_spans=1']) {
    const res = await fetch(`${mesh.adminUrl}/runtime_modify?${kv}`, { method: 'POST' });
    assert.equal(res.status, 200, await res.text());
  }
  await until(
    async () => (await fetch(`${mesh.adminUrl}/config_dump`).then((r) => r.text())).includes('envoy.tracers.opentelemetry'),
    'Envoy has the tracer',
    20_000,
  );
});

after(async () => {
  await mesh?.stop();
  await adapter?.shutdown();
  await jaeger?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let nextId = 1;
/** The trace_context tool's view of the `_meta` the server got, for a call sent with `traceparent`. */
async function call(traceparent: string): Promise<{ serverSaw: Record<string, unknown> }> {
  const id = nextId++;
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'trace_context',
      traceparent,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'trace_context', arguments: {}, _meta: META } }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const body = JSON.parse(text) as { result: { structuredContent: Record<string, unknown> } };
  return { serverSaw: body.result.structuredContent };
}

/** Envoy's exported span count once its 100 ms flush has run twice with nothing new. */
async function settledSpansSent(): Promise<number> {
  let last = -1;
  let now = await statValue(mesh.adminUrl, SPANS_SENT);
  while (now !== last) {
    await new Promise((r) => setTimeout(r, 300));
    last = now;
    now = await statValue(mesh.adminUrl, SPANS_SENT);
  }
  return now;
}

function accessLogTraceIds(): string[] {
  return readFileSync(accessLog, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => String((JSON.parse(l) as Record<string, unknown>)['trace_id']));
}

test("a sampled agent context: Envoy's two spans are sent and the server gets the call's context (the counter moves)", async () => {
  const before = await settledSpansSent();
  const traceId = 'a1'.repeat(16);
  const { serverSaw } = await call(`00-${traceId}-${'b2'.repeat(8)}-01`);
  assert.match(String(serverSaw['traceparent']), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  assert.equal((await settledSpansSent()) - before, 2, 'the request span and the try span');
});

test("an agent's unsampled context at 100%: Envoy records nothing and keeps the agent's trace id", async () => {
  const before = await settledSpansSent();
  const traceId = 'c3'.repeat(16);
  const { serverSaw } = await call(`00-${traceId}-${'d4'.repeat(8)}-00`);
  // The adapter follows the -00 it got: no span, nothing spliced.
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await settledSpansSent(), before);
  await until(() => accessLogTraceIds().includes(traceId), "the access log line with the agent's trace id");
});

test('a traceparent Envoy cannot parse: no span at all (no trace id in the access log), nothing recorded', async () => {
  const before = await settledSpansSent();
  const linesBefore = accessLogTraceIds().length;
  const { serverSaw } = await call('not-a-traceparent');
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await settledSpansSent(), before);
  let ids: string[] = [];
  await until(() => {
    ids = accessLogTraceIds();
    return ids.length > linesBefore;
  }, 'the access log line');
  // A request with a span, sampled or not, has its trace id here; this one has none.
  assert.ok(['null', '-', ''].includes(ids[ids.length - 1]!), `trace_id ${ids[ids.length - 1]}`);
});
