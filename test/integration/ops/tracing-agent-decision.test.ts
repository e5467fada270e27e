// Whose sampling decision counts when the agent sends one, through a real
// Envoy, a real adapter and a real Jaeger v2 with Envoy's tracer on at 0%:
// Envoy's percentage decides also for an agent's context that says sampled
// (it is kept as the parent, its trace id in the access log, and not
// recorded), while an agent's unsampled context stays unsampled even at 100%
// (tracing-unsampled.test.ts). docs/observability.md, "Where the trace context
// comes from".
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
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-agent-decision-'));
  accessLog = join(dir, 'access.log');
  adapter = await startFixtureAdapter({ tracing: { collector: jaeger.otlpUrl, sampling: 0, exportDelayMs: 100 } });
  mesh = await startMesh({
    config: { servers: [{ name: 'fixture', replicas: [adapter.url] }] },
    observability: { tracing: { collector: jaeger.otlpUrl, sampling: 0 }, accessLog: { path: accessLog } },
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

test("at 0%, an agent's sampled context is not recorded: Envoy's percentage decides, the agent's trace id is kept", async () => {
  const before = await settledSpansSent();
  const traceId = 'e5'.repeat(16);
  const { serverSaw } = await call(`00-${traceId}-${'f6'.repeat(8)}-01`);
  // The adapter follows the -00 Envoy sent it: no span, nothing spliced.
  assert.equal(serverSaw['traceparent'], null);
  assert.equal(await settledSpansSent(), before);
  await until(() => accessLogTraceIds().includes(traceId), "the access log line with the agent's trace id");
});
