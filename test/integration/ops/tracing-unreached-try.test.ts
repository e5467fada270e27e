// A try that never reached an adapter (its replica refuses connections, Envoy
// retries on the other one), with Envoy's span per try upstream and without it
// (`tracing.upstreamSpans: false`): what the trace and the access log show of
// that try, through a real Envoy, a real adapter and a real Jaeger v2.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type Jaeger, type JaegerSpan, startJaeger, tag } from '../../support/jaeger.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { freePort } from '../../support/ports.js';
import { envoyTracesAtOnce } from '../../support/tracing-probe.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

let jaeger: Jaeger;
let adapter: AdapterHandle;
let dir: string;
const meshes: Mesh[] = [];

before(async () => {
  jaeger = await startJaeger();
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-unreached-'));
  adapter = await startFixtureAdapter({ tracing: { collector: jaeger.otlpUrl, sampling: 0, exportDelayMs: 100 } });
});

after(async () => {
  for (const m of meshes) await m.stop();
  await adapter?.shutdown();
  await jaeger?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A mesh whose one server has a live replica and one that refuses connections (nothing listens on its port). */
async function meshWithDeadReplica(upstreamSpans: boolean): Promise<{ mesh: Mesh; accessLog: string; dead: string }> {
  const accessLog = join(dir, `access-${upstreamSpans}.log`);
  const deadHost = `127.0.0.1:${await freePort()}`;
  const dead = `http://${deadHost}/mcp`;
  const mesh = await startMesh({
    config: { servers: [{ name: 'fixture', replicas: [dead, adapter.url] }] },
    observability: {
      tracing: { collector: jaeger.otlpUrl, sampling: 100, ...(upstreamSpans ? {} : { upstreamSpans: false }) },
      accessLog: { path: accessLog },
    },
  });
  meshes.push(mesh);
  await envoyTracesAtOnce(mesh);
  await until(
    () =>
      fetch(mesh.agentUrl('fixture'), { method: 'GET' }).then(
        () => true,
        () => false,
      ),
    "Envoy's listener accepting",
    20_000,
  );
  return { mesh, accessLog, dead: deadHost };
}

function logLine(accessLog: string, traceId: string): Record<string, unknown> | undefined {
  let text = '';
  try {
    text = readFileSync(accessLog, 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.includes(traceId));
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}

let nextId = 1;
/**
 * Calls until one took two tries (the dead replica first, refused, then the
 * live one); Envoy alternates between the two, and ejects the dead one after
 * two refusals, so one of the first calls is that one. Its trace id.
 */
async function retriedCall(mesh: Mesh, accessLog: string): Promise<{ traceId: string; line: Record<string, unknown> }> {
  for (let i = 0; i < 6; i++) {
    const traceId = `${(nextId++).toString(16).padStart(4, '0')}${'7'.repeat(28)}`;
    const res = await fetch(mesh.agentUrl('fixture'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo',
        traceparent: `00-${traceId}-${'8'.repeat(16)}-01`,
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: nextId,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'x' }, _meta: META },
      }),
    });
    assert.equal(res.status, 200, await res.text());
    let line: Record<string, unknown> | undefined;
    await until(() => {
      line = logLine(accessLog, traceId);
      return line !== undefined;
    }, 'the access log line');
    if (line!['attempts'] === 2) return { traceId, line: line! };
  }
  throw new Error('no call of six took a second try');
}

/** The trace once Envoy's request span (it ends last) and the adapter's span are in. */
async function traceOf(traceId: string): Promise<JaegerSpan[]> {
  let spans: JaegerSpan[] = [];
  await until(
    async () => {
      spans = await jaeger.trace(traceId);
      const agentChild = spans.some((s) => s.service === 'mcpmesh-envoy' && parentOf(s) === '8'.repeat(16));
      return agentChild && spans.some((s) => s.service === 'mcpmesh-adapter');
    },
    `trace ${traceId} in Jaeger (${spans.length} spans)`,
    20_000,
    100,
  );
  return spans;
}

const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

const envoySpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-envoy');
const adapterSpans = (spans: JaegerSpan[]) => spans.filter((s) => s.service === 'mcpmesh-adapter');

test("upstream spans on (the default): the refused try is an Envoy span of its own, with the replica and Envoy's reason", async () => {
  const { mesh, accessLog, dead } = await meshWithDeadReplica(true);
  const { traceId, line } = await retriedCall(mesh, accessLog);
  const spans = await traceOf(traceId);
  const request = envoySpans(spans).find((s) => parentOf(s) === '8'.repeat(16))!;
  const tries = envoySpans(spans).filter((s) => parentOf(s) === request.spanID);
  assert.equal(tries.length, 2, `two tries below the request span: ${JSON.stringify(spans.map((s) => s.operationName))}`);
  const refused = tries.find((s) => tag(s, 'upstream_address') === dead);
  assert.ok(refused, `a try span names the refused replica ${dead}`);
  assert.equal(tag(refused, 'response_flags'), 'UF');
  assert.equal(tag(refused, 'error'), 'true');
  assert.equal(tag(refused, 'error.reason'), 'remote connection failure');
  const served = tries.find((s) => s !== refused)!;
  assert.equal(tag(served, 'retry.count'), '1');
  const [adapterSpan, ...more] = adapterSpans(spans);
  assert.equal(more.length, 0, 'one try reached an adapter');
  assert.equal(parentOf(adapterSpan!), served.spanID, "the adapter's span is below the try that reached it");
  assert.equal(tag(adapterSpan!, 'mcpmesh.attempt'), 2);
  assert.notEqual(line['upstream_host'], dead);
});

test('upstream spans off: one Envoy span; the refused try shows as the attempt number and in the access log, its replica nowhere', async () => {
  const { mesh, accessLog, dead } = await meshWithDeadReplica(false);
  const { traceId, line } = await retriedCall(mesh, accessLog);
  const spans = await traceOf(traceId);
  const envoy = envoySpans(spans);
  // The request span ends after its tries: once it is in Jaeger, so would they be.
  assert.equal(envoy.length, 1, `only the request span: ${JSON.stringify(envoy.map((s) => s.operationName))}`);
  const [adapterSpan, ...more] = adapterSpans(spans);
  assert.equal(more.length, 0);
  assert.equal(parentOf(adapterSpan!), envoy[0]!.spanID, "the adapter's span hangs from Envoy's request span");
  assert.equal(tag(adapterSpan!, 'mcpmesh.attempt'), 2, 'attempt 2 with no span for attempt 1: a try that reached no adapter');
  assert.ok(!JSON.stringify(spans).includes(dead), 'no span names the refused replica');
  assert.equal(line['attempts'], 2);
  assert.equal(line['trace_id'], traceId);
});
