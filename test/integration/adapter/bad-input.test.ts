// Show 6: every kind of bad input gets its documented answer (HTTP status and
// JSON-RPC error code), is counted, and costs nothing else: the adapter keeps
// serving good requests.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';

let adapter: AdapterHandle;
let sid: string;

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const MODERN_HEADERS = { ...JSON_HEADERS, 'mcp-protocol-version': '2026-07-28' };

function modernCall(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name, arguments: { text: 'x' }, _meta: META, ...extra } });
}

interface Expect {
  readonly status: number;
  /** JSON-RPC error code in the body, when the answer has one. */
  readonly code?: number;
  readonly message?: RegExp;
  readonly id?: unknown;
  readonly header?: readonly [string, string];
}

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly path?: string;
  readonly expect: Expect;
}

before(async () => {
  adapter = await startFixtureAdapter({ maxBodyBytes: 1_000, allowedOrigins: ['https://app.example'], maxSessions: 3 });
  const init = await fetch(adapter.url, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });
  sid = init.headers.get('mcp-session-id')!;
  await init.text();
  // A client follows up, so the session is not expired as never initialized (--session-init-timeout).
  const initialized = await fetch(adapter.url, {
    method: 'POST',
    headers: { ...JSON_HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  assert.equal(initialized.status, 202);
});
after(async () => {
  await adapter?.shutdown();
});

async function send(c: Case): Promise<{ status: number; headers: Headers; text: string }> {
  const url = c.path === undefined ? adapter.url : adapter.url.replace(/\/mcp$/, c.path);
  const res = await fetch(url, {
    method: c.method ?? 'POST',
    headers: c.headers ?? JSON_HEADERS,
    ...(c.body !== undefined ? { body: c.body } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function check(c: Case, got: { status: number; headers: Headers; text: string }): void {
  assert.equal(got.status, c.expect.status, `${c.name}: ${got.text}`);
  if (c.expect.code !== undefined) {
    const body = JSON.parse(got.text) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
    assert.equal(body.jsonrpc, '2.0', c.name);
    assert.equal(body.error.code, c.expect.code, `${c.name}: ${got.text}`);
    if (c.expect.message) assert.match(body.error.message, c.expect.message, c.name);
    assert.equal(body.id, c.expect.id ?? null, c.name);
  }
  if (c.expect.header) assert.equal(got.headers.get(c.expect.header[0]), c.expect.header[1], c.name);
}

const session = () => ({ ...JSON_HEADERS, 'mcp-session-id': sid });

const CASES = (): Case[] => [
  {
    name: 'declared body over the limit',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(2_000) } }),
    expect: { status: 413, code: -32000, message: /must not exceed 1000 bytes/ },
  },
  {
    name: 'wrong content type',
    headers: { ...JSON_HEADERS, 'content-type': 'text/plain' },
    body: '{}',
    expect: { status: 415, code: -32000, message: /Content-Type must be application\/json/ },
  },
  {
    name: 'accepts neither JSON nor SSE',
    headers: { ...session(), accept: 'text/html' },
    body: '{"jsonrpc":"2.0","id":3,"method":"ping"}',
    expect: { status: 406, code: -32000, id: 3 },
  },
  { name: 'not JSON', body: '{"jsonrpc":', expect: { status: 400, code: -32700, message: /^Parse error/ } },
  { name: 'empty body', body: '', expect: { status: 400, code: -32700, message: /empty/ } },
  {
    name: 'a batch',
    body: '[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
    expect: { status: 400, code: -32600, message: /batches are not supported/ },
  },
  {
    name: 'no jsonrpc member',
    body: '{"id":9,"method":"ping"}',
    expect: { status: 400, code: -32600, message: /jsonrpc must be "2.0"/, id: 9 },
  },
  {
    name: 'null request id',
    body: '{"jsonrpc":"2.0","id":null,"method":"ping"}',
    expect: { status: 400, code: -32600, message: /id must be a string or a number/ },
  },
  {
    name: 'params not an object',
    body: '{"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}',
    expect: { status: 400, code: -32600, message: /params must be an object/, id: 4 },
  },
  {
    name: 'a response outside any session',
    body: '{"jsonrpc":"2.0","id":4,"result":{}}',
    expect: { status: 400, code: -32600, message: /only be posted in a 2025-era session/ },
  },
  {
    name: 'a foreign Origin',
    headers: { ...session(), origin: 'http://evil.example' },
    body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    expect: { status: 403, code: -32000, message: /Origin http:\/\/evil.example is not allowed/ },
  },
  { name: 'PUT', method: 'PUT', body: '{}', expect: { status: 405, code: -32000, header: ['allow', 'GET, POST, DELETE'] } },
  {
    name: 'GET without a session',
    method: 'GET',
    headers: { accept: 'text/event-stream' },
    expect: { status: 405, code: -32000, header: ['allow', 'POST'] },
  },
  { name: 'DELETE without a session', method: 'DELETE', headers: {}, expect: { status: 405, code: -32000, header: ['allow', 'POST'] } },
  {
    name: 'POST in an unknown session',
    headers: { ...JSON_HEADERS, 'mcp-session-id': 'nope' },
    body: '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    expect: { status: 404, code: -32001, message: /Session not found/, id: 2 },
  },
  {
    name: 'GET of an unknown session',
    method: 'GET',
    headers: { accept: 'text/event-stream', 'mcp-session-id': 'nope' },
    expect: { status: 404, code: -32001 },
  },
  { name: 'DELETE of an unknown session', method: 'DELETE', headers: { 'mcp-session-id': 'nope' }, expect: { status: 404, code: -32001 } },
  {
    name: 'GET that does not accept SSE',
    method: 'GET',
    headers: { accept: 'application/json', 'mcp-session-id': sid },
    expect: { status: 406, code: -32000 },
  },
  {
    name: '2025-era request without a session',
    body: '{"jsonrpc":"2.0","id":6,"method":"tools/list"}',
    expect: { status: 400, code: -32000, message: /Mcp-Session-Id header is required/, id: 6 },
  },
  {
    name: 'initialize inside a session',
    headers: session(),
    body: '{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
    expect: { status: 400, code: -32600, id: 7 },
  },
  {
    name: 'initialize without a protocol version',
    body: '{"jsonrpc":"2.0","id":8,"method":"initialize","params":{}}',
    expect: { status: 400, code: -32602, id: 8 },
  },
  {
    name: 'initialize with a 2026-07-28 header',
    headers: MODERN_HEADERS,
    body: '{"jsonrpc":"2.0","id":8,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
    expect: { status: 400, code: -32020, id: 8 },
  },
  {
    name: 'unsupported 2025-era version header',
    headers: { ...session(), 'mcp-protocol-version': '1999-01-01' },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    expect: { status: 400, code: -32000, message: /Unsupported protocol version: 1999-01-01/, id: 1 },
  },
  {
    name: 'Mcp-Method disagrees with the body',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/list', 'mcp-name': 'echo' },
    body: modernCall('echo'),
    expect: { status: 400, code: -32020, message: /Mcp-Method header names tools\/list/, id: 5 },
  },
  {
    name: 'Mcp-Name disagrees with the body',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/call', 'mcp-name': 'increment' },
    body: modernCall('echo'),
    expect: { status: 400, code: -32020, message: /Mcp-Name header names "increment"/, id: 5 },
  },
  {
    name: 'Mcp-Name missing',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/call' },
    body: modernCall('echo'),
    expect: { status: 400, code: -32020, message: /Mcp-Name header is absent/, id: 5 },
  },
  {
    name: 'Mcp-Method missing',
    headers: { ...MODERN_HEADERS, 'mcp-name': 'echo' },
    body: modernCall('echo'),
    expect: { status: 400, code: -32020, message: /Mcp-Method header is absent/, id: 5 },
  },
  {
    name: 'MCP-Protocol-Version header disagrees with the envelope',
    headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: modernCall('echo'),
    expect: { status: 400, code: -32020, id: 5 },
  },
  {
    name: 'unsupported 2026+ version',
    headers: { ...JSON_HEADERS, 'mcp-protocol-version': '2027-01-01', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: modernCall('echo', { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } }),
    expect: { status: 400, code: -32022, message: /Unsupported protocol version: 2027-01-01/, id: 5 },
  },
  {
    name: 'envelope without client capabilities',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: modernCall('echo', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }),
    expect: { status: 400, code: -32602, message: /clientCapabilities: missing/, id: 5 },
  },
  {
    name: '2026-07-28 header without an envelope',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/list' },
    body: '{"jsonrpc":"2.0","id":5,"method":"tools/list"}',
    expect: { status: 400, code: -32602, message: /missing the _meta envelope/, id: 5 },
  },
  {
    name: 'a method 2026-07-28 does not have',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'ping' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping', params: { _meta: META } }),
    expect: { status: 404, code: -32601, id: 5 },
  },
  {
    // In-band, as the SDK's own listen router answers it.
    name: 'subscriptions/listen without a filter',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'subscriptions/listen', params: { _meta: META } }),
    expect: { status: 200, code: -32602, message: /'notifications' is required/, id: 5 },
  },
  { name: 'an unknown path', path: '/nope', body: '{}', expect: { status: 404 } },
];

test('every kind of bad input gets its documented answer', async () => {
  const cases = CASES();
  for (const c of cases) check(c, await send(c));
  const rejected = await adapter.metrics.registry.getSingleMetricAsString('mcpmesh_adapter_rejected_requests_total');
  const total = rejected
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.trim() !== '')
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(total, cases.length - 1, 'each refusal but the unknown path is counted');
  assert.match(rejected, /reason="header_mismatch"} 6/);
  assert.match(rejected, /reason="unsupported_version"} 2/);
});

test('a body over the limit sent without Content-Length (chunked) is refused too', async () => {
  const url = new URL(adapter.url);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...JSON_HEADERS, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write(`{"pad":"${'x'.repeat(200)}"}`);
    req.end();
  });
  assert.equal(status, 413);
});

test('localhost and allow-listed origins pass', async () => {
  for (const origin of ['http://localhost:5173', 'https://app.example']) {
    const r = await send({
      name: origin,
      headers: { ...session(), origin },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      expect: { status: 200 },
    });
    assert.equal(r.status, 200, origin);
  }
});

test('a second GET stream of one session is a conflict (409)', async () => {
  const controller = new AbortController();
  const first = await fetch(adapter.url, {
    method: 'GET',
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid },
    signal: controller.signal,
  });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'text/event-stream');
  const second = await send({
    name: 'second GET',
    method: 'GET',
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid },
    expect: { status: 409 },
  });
  check({ name: 'second GET', expect: { status: 409, code: -32000, message: /Only one SSE stream/ } }, second);
  controller.abort();
});

test('beyond the session limit, initialize is refused 429 with Retry-After and why, not retryable', async () => {
  const init = () =>
    fetch(adapter.url, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await init());
  const statuses = answers.map((a) => a.status);
  assert.deepEqual(statuses, [200, 200, 429], 'one session existed already; the limit is 3');
  assert.equal(answers[2]!.headers.get('x-mcpmesh-retryable'), null, 'another replica would only take the flood too');
  assert.match(answers[2]!.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  const body = JSON.parse(await answers[2]!.text()) as {
    id: number;
    error: { code: number; message: string; data: { reason: string; limit: number } };
  };
  assert.equal(body.id, 0);
  assert.equal(body.error.code, -32000);
  assert.match(
    body.error.message,
    /^Too many sessions: this replica has 3 sessions open, the most --max-sessions allows\. A session that never sends notifications\/initialized expires after 10 s/,
  );
  assert.deepEqual([body.error.data.reason, body.error.data.limit], ['max_sessions', 3]);
  for (const a of answers.slice(0, 2)) await a.text();
});

test('after all that, good requests are served', async () => {
  const r = await fetch(adapter.url, {
    method: 'POST',
    headers: { ...MODERN_HEADERS, 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    body: modernCall('echo'),
  });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /echo: x/);
});
