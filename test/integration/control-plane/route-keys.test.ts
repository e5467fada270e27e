// Route keys come from the body, for every protocol generation: three adapter
// replicas behind the control plane and a real Envoy. A 2025-era session whose
// headers name a read-only tool while its body calls a non-idempotent one gets
// the non-idempotent tool's policy; a 2026-07-28 request whose headers lie is
// refused by Envoy (400, -32020) before any replica sees it; one without the
// required headers gets the adapter's own refusal (Envoy fills nothing in); a
// client that sends only the body, with any key order, nested "method" keys or
// a charset parameter, gets its tool's route (here: slow's 300 ms timeout).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type AdapterProcess, startAdapterProcess } from '../../support/adapter-fixture.js';
import { type Mesh, routeList, startMesh, statValue } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const ACCEPT = 'application/json, text/event-stream';

let replicas: AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  replicas = await Promise.all([0, 1, 2].map(() => startAdapterProcess('fixture', 1)));
  mesh = await startMesh({
    config: {
      servers: [
        {
          name: 'fixture',
          replicas: replicas.map((r) => r.url),
          policy: {
            healthCheck: { path: '/readyz', interval: '250ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 },
            tools: { slow: { timeout: '300ms', retry: { attempts: 0 } } },
          },
        },
      ],
    },
  });
  await until(
    async () => {
      const names = new Set((await routeList(mesh.adminUrl)).map((r) => r['name']));
      return ['fixture/tool/slow', 'fixture/tool/echo', 'fixture/tool/crash_unsafe', 'fixture/tool/increment'].every((n) => names.has(n));
    },
    'tool routes',
    20_000,
  );
});
after(async () => {
  await mesh?.stop();
  for (const r of replicas) r.child.kill('SIGKILL');
});

const stat = (name: string) => statValue(mesh.adminUrl, `cluster.mcp_fixture.${name}`);

/** Sum over the replicas of a metric's samples whose labels include `labels`. */
async function fleetMetric(name: string, labels: string): Promise<number> {
  let sum = 0;
  for (const r of replicas) {
    const text = await (await fetch(r.url.replace(/\/mcp$/, '/metrics'))).text();
    for (const l of text.split('\n')) if (l.startsWith(`${name}{`) && l.includes(labels)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** status 0: Envoy cut a response that had already started streaming. */
async function post(headers: Record<string, string>, body: string): Promise<Answer> {
  try {
    const res = await fetch(mesh.agentUrl('fixture'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
      body,
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String((err as Error).cause ?? err) };
  }
}

/** A raw 2025-11-25 session: no mcp-method headers, as 2025-era clients send. */
async function legacySession(): Promise<string> {
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  assert.equal(res.status, 200, await res.text());
  const sid = res.headers.get('mcp-session-id');
  assert.ok(sid, 'session id');
  const ack = await post(session(sid), JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  assert.equal(ack.status, 202);
  return sid;
}

function session(sid: string): Record<string, string> {
  return { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
}

function modernHeaders(method: string, name?: string): Record<string, string> {
  return { 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(name === undefined ? {} : { 'mcp-name': name }) };
}

function modernCall(tool: string, args: Record<string, unknown>, id: number): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args, _meta: META } });
}

function rpcError(a: Answer): { id: unknown; code: number; message: string } {
  const parsed = JSON.parse(a.text) as { id: unknown; error: { code: number; message: string } };
  return { id: parsed.id, code: parsed.error.code, message: parsed.error.message };
}

test('a body without headers picks the tool route, whatever the key order or nested "method" keys', async () => {
  const sid = await legacySession();
  // "method" appears first inside the arguments; the top-level method comes last.
  const before = await stat('upstream_rq_timeout');
  const slow = await post(
    session(sid),
    '{"jsonrpc":"2.0","id":7,"params":{"arguments":{"method":"tools/list","ms":1000},"name":"slow"},"method":"tools/call"}',
  );
  assert.ok(slow.status === 504 || slow.status === 0, `the slow tool's 300 ms route timeout cuts the call: ${slow.status} ${slow.text}`);
  assert.doesNotMatch(slow.text, /slept 1000/);
  assert.equal(await stat('upstream_rq_timeout'), before + 1);
  const fast = await post(session(sid), '{"params":{"name":"slow","arguments":{"ms":0}},"id":8,"method":"tools/call","jsonrpc":"2.0"}');
  assert.equal(fast.status, 200, fast.text);
  assert.match(fast.text, /slept 0 in \d+/);
  // Another tool whose arguments name slow is not bound by slow's route; escapes are decoded.
  const echo = await post(
    session(sid),
    '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"\\u0065cho","arguments":{"text":"x","method":"slow","name":"slow"}}}',
  );
  assert.equal(echo.status, 200, echo.text);
  assert.match(echo.text, /echo: x/);
  const escaped = await post(
    session(sid),
    '{"jsonrpc":"2.0","id":10,"method":"tools\\/call","params":{"name":"sl\\u006fw","arguments":{"ms":1000}}}',
  );
  assert.ok(escaped.status === 504 || escaped.status === 0, `an escaped name is the same tool: ${escaped.status} ${escaped.text}`);
  assert.equal(await stat('upstream_rq_timeout'), before + 2);
});

test('application/json with a charset parameter is routed by its body too', async () => {
  const before = await stat('upstream_rq_timeout');
  for (const type of ['application/json; charset=utf-8', 'Application/JSON;charset=UTF-8']) {
    const a = await post({ ...modernHeaders('tools/call', 'slow'), 'content-type': type }, modernCall('slow', { ms: 1000 }, 1));
    assert.ok(a.status === 504 || a.status === 0, `${type}: ${a.status} ${a.text}`);
    // Without headers (a 2025 session), the body alone picks the route.
    const sid = await legacySession();
    const b = await post(
      { ...session(sid), 'content-type': type },
      JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1000 } } }),
    );
    assert.ok(b.status === 504 || b.status === 0, `${type}, body only: ${b.status} ${b.text}`);
  }
  assert.equal(await stat('upstream_rq_timeout'), before + 4);
});

test("a body of 2 MiB, over Envoy's default buffer, is read whole and routed by its body", async () => {
  const text = 'y'.repeat(2 * 1024 * 1024);
  const a = await post(modernHeaders('tools/call', 'echo'), modernCall('echo', { text }, 5));
  assert.equal(a.status, 200, a.text.slice(0, 200));
  assert.equal((JSON.parse(a.text) as { result: { structuredContent: { length: number } } }).result.structuredContent.length, text.length);
});

test('a 2025 session whose headers name a read-only tool while its body calls a non-idempotent one: that call is not retried', async () => {
  const sid = await legacySession();
  const who = await post(
    session(sid),
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  );
  assert.equal(who.status, 200, who.text);
  const pid = Number(/"text":"(\d+)"/.exec(who.text)![1]);
  const retries = await stat('upstream_rq_retry');
  const calls = await fleetMetric('mcpmesh_adapter_calls_total', 'tool="crash_unsafe"');
  const unknownSessions = await fleetMetric('mcpmesh_adapter_rejected_requests_total', 'reason="unknown_session"');
  // The lie: echo is read-only, so its route retries any 5xx.
  const lying = post(
    { ...session(sid), 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crash_unsafe', arguments: { afterMs: 30_000 } } }),
  );
  await until(async () => (await fleetMetric('mcpmesh_adapter_calls_in_flight', 'server="fixture"')) === 1, 'the call in flight', 10_000);
  process.kill(pid, 'SIGKILL');
  const a = await lying;
  assert.equal(a.status, 503, `the adapter's answer for a crash under a call that is not replay-safe, not a retry's: ${a.text}`);
  assert.match(a.text, /Server process failed during the call: the process killed by SIGKILL/);
  assert.equal(await stat('upstream_rq_retry'), retries, 'Envoy did not retry it');
  assert.equal(await fleetMetric('mcpmesh_adapter_calls_total', 'tool="crash_unsafe"'), calls + 1, 'one replica saw the call');
  assert.equal(
    await fleetMetric('mcpmesh_adapter_rejected_requests_total', 'reason="unknown_session"'),
    unknownSessions,
    'no other replica was asked',
  );
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_pool_processes', 'state="ready"')) === 3,
    'the killed process restarted',
    15_000,
  );
});

test('a 2026-07-28 request whose headers disagree with its body: 400, -32020 from Envoy, and no replica sees it', async () => {
  const upstream = await stat('upstream_rq_total');
  const increments = await fleetMetric('mcpmesh_adapter_calls_total', 'tool="increment"');
  const lies: Array<[Record<string, string>, string]> = [
    [modernHeaders('tools/call', 'echo'), modernCall('increment', {}, 11)],
    [modernHeaders('tools/call', '=?base64?ZWNobw==?='), modernCall('increment', {}, 12)],
    [modernHeaders('tools/list', 'increment'), modernCall('increment', {}, 13)],
    [modernHeaders('tools/call', 'increment'), JSON.stringify({ jsonrpc: '2.0', id: 14, method: 'tools/list', params: { _meta: META } })],
  ];
  for (const [headers, body] of lies) {
    const a = await post(headers, body);
    assert.equal(a.status, 400, `${JSON.stringify(headers)}: ${a.text}`);
    const e = rpcError(a);
    assert.equal(e.code, -32020);
    assert.equal(e.id, null, 'answered by Envoy, which cannot echo the id');
    assert.match(e.message, /^Bad Request: the request headers and body disagree: /);
  }
  assert.equal(await stat('upstream_rq_total'), upstream, 'nothing reached a replica');
  assert.equal(await fleetMetric('mcpmesh_adapter_calls_total', 'tool="increment"'), increments);
  // A lie about a tool Envoy has no route for reaches the adapter unchanged, which refuses it.
  const unknown = await post(modernHeaders('tools/call', 'echo'), modernCall('no_such_tool', {}, 15));
  assert.equal(unknown.status, 400, unknown.text);
  assert.deepEqual([rpcError(unknown).id, rpcError(unknown).code], [15, -32020]);
  assert.match(rpcError(unknown).message, /params\.name="no_such_tool" but the Mcp-Name header names "echo"/);
  // Honest headers pass, plain or in the Base64 form.
  for (const name of ['echo', '=?base64?ZWNobw==?=']) {
    const ok = await post(modernHeaders('tools/call', name), modernCall('echo', { text: 'honest' }, 16));
    assert.equal(ok.status, 200, `${name}: ${ok.text}`);
    assert.match(ok.text, /echo: honest/);
  }
});

test("a 2026-07-28 request without the required headers gets the adapter's refusal: Envoy fills nothing in", async () => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ 'mcp-protocol-version': '2026-07-28' }, modernCall('echo', { text: 'x' }, 21), /required Mcp-Method header is absent/],
    [modernHeaders('tools/call'), modernCall('echo', { text: 'x' }, 22), /required Mcp-Name header is absent/],
    [{}, modernCall('echo', { text: 'x' }, 23), /required MCP-Protocol-Version header is absent/],
    // Without the version header Envoy cannot tell a 2026 request: it removes the lying headers, and the adapter still refuses.
    [{ 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, modernCall('increment', {}, 24), /required MCP-Protocol-Version header is absent/],
  ];
  for (const [headers, body, message] of cases) {
    const a = await post(headers, body);
    assert.equal(a.status, 400, a.text);
    const e = rpcError(a);
    assert.deepEqual([e.id, e.code], [JSON.parse(body).id, -32020], a.text);
    assert.match(e.message, message);
  }
});

test('a client that sends the headers is routed by the body they match', async () => {
  const client = new Client({ name: 'it', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture'))));
  try {
    const before = await stat('upstream_rq_timeout');
    await assert.rejects(client.callTool({ name: 'slow', arguments: { ms: 1000 } }));
    assert.equal(await stat('upstream_rq_timeout'), before + 1);
    const ok = await client.callTool({ name: 'slow', arguments: { ms: 0 } });
    assert.equal(ok.isError ?? false, false);
  } finally {
    await client.close();
  }
});

test('the GET stream of a session is not buffered', async () => {
  const sid = await legacySession();
  const controller = new AbortController();
  const started = performance.now();
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'GET',
    headers: { accept: 'text/event-stream', ...session(sid) },
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.ok(performance.now() - started < 2_000, 'headers arrive while the stream stays open');
  controller.abort();
});
