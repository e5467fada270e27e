// A mesh whose Envoy traces at a given percent, in front of a real adapter of
// the fixture server, both exporting to a real Jaeger v2, with Envoy's access
// log in a file: what the tests of Envoy's sampling decisions drive. Envoy
// flushes its spans every 100 ms, so a count read twice unchanged is settled.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixtureAdapter } from './adapter-fixture.js';
import { startJaeger } from './jaeger.js';
import { type Mesh, startMesh, statValue } from './mesh.js';
import { postToolCall } from './modern-call.js';
import { until } from './wait.js';

const SPANS_SENT = 'tracing.opentelemetry.spans_sent';

/**
 * Envoy's tracer on and its spans sent at once: Envoy sends them every 5 s,
 * or once 5 are waiting, which a test of one call would wait for.
 */
export async function envoyTracesAtOnce(mesh: Mesh): Promise<void> {
  for (const kv of ['tracing.opentelemetry.flush_interval_ms=100', 'tracing.opentelemetry.min_flush_spans=1']) {
    const res = await fetch(`${mesh.adminUrl}/runtime_modify?${kv}`, { method: 'POST' });
    assert.equal(res.status, 200, await res.text());
  }
  await until(
    async () => (await fetch(`${mesh.adminUrl}/config_dump`).then((r) => r.text())).includes('envoy.tracers.opentelemetry'),
    'Envoy has the tracer',
    20_000,
  );
}

export interface TracingProbe {
  readonly mesh: Mesh;
  /** The trace_context tool's view of the `_meta` the server got, for a 2026-07-28 call sent with `traceparent`. */
  call(traceparent: string): Promise<{ serverSaw: Record<string, unknown> }>;
  /** Envoy's exported span count once its 100 ms flush has run twice with nothing new. */
  settledSpansSent(): Promise<number>;
  /** The `trace_id` of every access log line so far. */
  accessLogTraceIds(): string[];
  stop(): Promise<void>;
}

export async function startTracingProbe(sampling: number): Promise<TracingProbe> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-tracing-probe-'));
  const accessLog = join(dir, 'access.log');
  // What has started, stopped in reverse when a later step fails or the probe stops.
  const stops: (() => Promise<void>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  let mesh: Mesh;
  try {
    const jaeger = await startJaeger();
    stops.push(() => jaeger.stop());
    const adapter = await startFixtureAdapter({ tracing: { collector: jaeger.otlpUrl, sampling: 0, exportDelayMs: 100 } });
    stops.push(() => adapter.shutdown());
    mesh = await startMesh({
      config: { servers: [{ name: 'fixture', replicas: [adapter.url] }] },
      observability: { tracing: { collector: jaeger.otlpUrl, sampling }, accessLog: { path: accessLog } },
    });
    const started = mesh;
    stops.push(() => started.stop());
    await envoyTracesAtOnce(started);
  } catch (err) {
    await stop();
    throw err;
  }
  let nextId = 1;
  return {
    mesh,
    async call(traceparent) {
      const id = nextId++;
      const res = await postToolCall(mesh.agentUrl('fixture'), 'trace_context', {}, { id, headers: { traceparent } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const body = JSON.parse(text) as { result: { structuredContent: Record<string, unknown> } };
      return { serverSaw: body.result.structuredContent };
    },
    async settledSpansSent() {
      let last = -1;
      let now = await statValue(mesh.adminUrl, SPANS_SENT);
      while (now !== last) {
        await new Promise((r) => setTimeout(r, 300));
        last = now;
        now = await statValue(mesh.adminUrl, SPANS_SENT);
      }
      return now;
    },
    accessLogTraceIds() {
      return readFileSync(accessLog, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => String((JSON.parse(l) as Record<string, unknown>)['trace_id']));
    },
    stop,
  };
}
