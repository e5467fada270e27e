// `mcpmesh up` with tracing in its file, to a real Jaeger v2: one tool call
// through the Envoy and the adapter that `up` started is one trace holding
// Envoy's request span, its span for the try upstream, the adapter's span
// below that, and the context the stdio server got in `_meta` below the
// adapter's; for both protocol generations. The file names the collector;
// the sampling percent comes from MCPMESH_TRACING_SAMPLING, which the control
// plane (for Envoy) and the adapters `up` starts both read. No test hook
// shortens anything: the spans reach Jaeger on the bootstrap's and the
// adapter's own schedule.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { upStateDir } from '../../../cli/commands/up.js';
import { connectClient, type Era, endSession } from '../../support/adapter-fixture.js';
import { type Jaeger, type JaegerSpan, startJaeger, tag } from '../../support/jaeger.js';
import { freeUpPorts, STDIO_FIXTURE, startUp, stopUp, type Up, writeUpConfig } from '../../support/up-process.js';
import { until } from '../../support/wait.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-tracing-'));
const started: ChildProcess[] = [];

let jaeger: Jaeger;
let up: Up | undefined;
let config = '';
let agentUrl = '';
let envoyAdminUrl = '';
let adapterUrl = '';

before(async () => {
  jaeger = await startJaeger();
  const ports = await freeUpPorts(1);
  config = writeUpConfig(dir, ports, {
    // The file's sampling would be 1% (the default); the variable says 100 to Envoy and the adapters.
    tracing: { collector: jaeger.otlpUrl },
    servers: [{ name: 'fixture', stdio: { command: [process.execPath, STDIO_FIXTURE], replicas: 1, port: ports.extra[0] } }],
  });
  agentUrl = `http://127.0.0.1:${ports.listen}/mcp/fixture`;
  envoyAdminUrl = `http://127.0.0.1:${ports.envoyAdmin}`;
  adapterUrl = `http://127.0.0.1:${ports.extra[0]}/mcp`;
  up = await startUp(config, started, {
    waitFor: [agentUrl],
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn', MCPMESH_TRACING_SAMPLING: '100' },
  });
  // Envoy has the tracer once the listener that carries it is in place.
  await until(
    async () =>
      (
        await fetch(`${envoyAdminUrl}/config_dump`).then(
          (r) => r.text(),
          () => '',
        )
      ).includes('envoy.tracers.opentelemetry'),
    'Envoy has the tracer',
    30_000,
    100,
  );
});

after(async () => {
  if (up && up.proc.exitCode === null) await stopUp(up);
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  await jaeger?.stop();
  if (config) rmSync(upStateDir(config), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const envoySpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-envoy');
const adapterSpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-adapter');
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

/** The traceparent the fixture server got in a `trace_context` call's _meta ('' for none); `done` ends the client. */
async function serverTraceparent(client: Client, done: (c: Client) => Promise<void>): Promise<string> {
  try {
    const result = (await client.callTool({ name: 'trace_context', arguments: {} })) as {
      structuredContent: { traceparent: string | null };
    };
    return result.structuredContent.traceparent ?? '';
  } finally {
    await done(client);
  }
}

for (const era of ['2026', '2025'] as Era[]) {
  test(`${era}: through mcpmesh up, one call is one trace: Envoy's request and try spans, the adapter's span, the server's context`, async () => {
    const traceparent = await serverTraceparent(await connectClient(agentUrl, era), endSession);
    const m = TRACEPARENT.exec(traceparent);
    assert.ok(m, `the server got a sampled traceparent in _meta: ${JSON.stringify(traceparent)}`);
    const [, traceId, serverParent] = m;
    let spans: JaegerSpan[] = [];
    // Envoy sends its spans within a second (the bootstrap's flush interval), the adapter within half of one.
    await until(
      async () => {
        spans = await jaeger.trace(traceId!);
        return envoySpans(spans).length >= 2 && adapterSpans(spans).some((s) => tag(s, 'gen_ai.tool.name') === 'trace_context');
      },
      `Envoy's spans and the adapter's in Jaeger (trace ${traceId}: ${spans.length} spans)`,
      15_000,
      200,
    );
    const adapter = adapterSpans(spans).find((s) => tag(s, 'gen_ai.tool.name') === 'trace_context')!;
    assert.equal(adapter.spanID, serverParent, "the server's parent is the adapter's span");
    assert.equal(tag(adapter, 'mcpmesh.server'), 'fixture');
    assert.equal(tag(adapter, 'mcpmesh.outcome'), 'ok');
    assert.equal(tag(adapter, 'mcpmesh.protocol.generation'), era === '2026' ? 'stateless' : 'session');
    const upstream = envoySpans(spans).find((s) => s.spanID === parentOf(adapter));
    assert.ok(upstream, `the adapter's span is a child of Envoy's try (${JSON.stringify(envoySpans(spans).map((s) => s.operationName))})`);
    const request = envoySpans(spans).find((s) => s.spanID === parentOf(upstream));
    assert.ok(request, "Envoy's try is a child of its request span");
    assert.equal(parentOf(request), undefined, "Envoy's request span is the trace's root (the agent sent no context)");
  });
}

test("MCPMESH_TRACING_SAMPLING is the adapters' percent too: a call straight to the adapter, with no context, is traced there", async () => {
  const traceparent = await serverTraceparent(await connectClient(adapterUrl, '2026'), (c) => c.close());
  const m = TRACEPARENT.exec(traceparent);
  assert.ok(m, `the adapter started a sampled trace: ${JSON.stringify(traceparent)}`);
  let spans: JaegerSpan[] = [];
  await until(
    async () => {
      spans = await jaeger.trace(m[1]!);
      return adapterSpans(spans).length >= 1;
    },
    `the adapter's span in Jaeger (trace ${m[1]})`,
    15_000,
    200,
  );
  assert.deepEqual(envoySpans(spans), [], 'Envoy never saw the call');
  const adapter = adapterSpans(spans)[0]!;
  assert.equal(adapter.spanID, m[2], "the server's parent is the adapter's span");
  assert.equal(parentOf(adapter), undefined, "the adapter's span is the trace's root");
});

test("the Envoy mcpmesh up starts batches its spans: a post every second, or once 1000 wait (not Envoy's 5)", async () => {
  const runtime = (await fetch(`${envoyAdminUrl}/runtime`).then((r) => r.json())) as {
    entries: Record<string, { final_value: string }>;
  };
  assert.equal(runtime.entries['tracing.opentelemetry.min_flush_spans']?.final_value, '1000');
  assert.equal(runtime.entries['tracing.opentelemetry.flush_interval_ms']?.final_value, '1000');
});
