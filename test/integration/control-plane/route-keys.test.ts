// Per-tool routes for clients that do not send mcp-method/mcp-name: the Lua
// filter derives them from the body (top level only, any key order) and the
// tool's own route — here, its 300 ms timeout — applies.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startMcpUpstream, type McpUpstream } from '../../support/mcp-upstream.js';
import { routeList, startMesh, statValue, type Mesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

let upstream: McpUpstream;
let mesh: Mesh;

before(async () => {
  upstream = await startMcpUpstream({ id: 'k1' });
  mesh = await startMesh({ config: { servers: [{ name: 'tools', replicas: [upstream.url], policy: { tools: { slow: { timeout: '300ms', retry: { attempts: 0 } } } } }] } });
  await until(async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'tools/tool/slow'), 'tool routes');
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
});

const ACCEPT = 'application/json, text/event-stream';

/** A raw 2025-11-25 session: no mcp-method headers, as 2025-era clients send. */
async function legacySession(url: string): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
  assert.equal(init.status, 200);
  await init.text();
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid, 'session id');
  const ack = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  assert.equal(ack.status, 202);
  return sid;
}

/** status 0: Envoy cut a response that had already started streaming. */
async function rawCall(url: string, sid: string, body: string): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, body });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String((err as Error).cause ?? err) };
  }
}

const timeouts = () => statValue(mesh.adminUrl, 'cluster.mcp_tools.upstream_rq_timeout');

test('a body without headers picks the tool route, whatever the key order or nested "method" keys', async () => {
  const url = mesh.agentUrl('tools');
  const sid = await legacySession(url);
  // "method" appears first inside the arguments; the top-level method comes last.
  const before = await timeouts();
  const slow = await rawCall(url, sid, '{"jsonrpc":"2.0","id":7,"params":{"arguments":{"method":"tools/list","ms":1000},"name":"slow"},"method":"tools/call"}');
  assert.ok(slow.status === 504 || slow.status === 0, `the slow tool's 300 ms route timeout cuts the call: ${slow.status} ${slow.text}`);
  assert.doesNotMatch(slow.text, /slept 1000/);
  assert.equal(await timeouts(), before + 1);
  const fast = await rawCall(url, sid, '{"params":{"name":"slow","arguments":{"ms":0}},"id":8,"method":"tools/call","jsonrpc":"2.0"}');
  assert.equal(fast.status, 200);
  assert.match(fast.text, /slept 0 on k1/);
  // Another tool with the same arguments is not bound by slow's route.
  const echo = await rawCall(url, sid, '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","method":"slow"}}}');
  assert.equal(echo.status, 200);
});

test('a client that sends the headers is routed by them', async () => {
  const client = new Client({ name: 'it', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('tools'))));
  try {
    const before = await timeouts();
    await assert.rejects(client.callTool({ name: 'slow', arguments: { ms: 1000 } }));
    assert.equal(await timeouts(), before + 1);
    const ok = await client.callTool({ name: 'slow', arguments: { ms: 0 } });
    assert.equal(ok.isError ?? false, false);
  } finally {
    await client.close();
  }
});

test('the GET stream of a session is not buffered', async () => {
  const url = mesh.agentUrl('tools');
  const sid = await legacySession(url);
  const controller = new AbortController();
  const started = performance.now();
  const res = await fetch(url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.ok(performance.now() - started < 2_000, 'headers arrive while the stream stays open');
  controller.abort();
});
