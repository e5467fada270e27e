// Rate limits per agent and per tool, enforced by a real Envoy: a limit trips
// at the configured rate and recovers; the 429 carries Retry-After and a
// JSON-RPC error with the request's id, is not retried (the upstream saw the
// allowed calls only) and is counted; each client address and each tool has
// a bucket of its own. (Buckets per verified identity: the same descriptors
// with the identity header, test/unit/control-plane/rate-limits.test.ts.)
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as SdkTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { AGENT_IDENTITY_HEADER } from '../../../lib/mesh-contracts.js';
import { connectClient } from '../../support/adapter-fixture.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, routeList, startMesh, statValue } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { until } from '../../support/wait.js';

let upstream: McpUpstream;
let mesh: Mesh;

// A token every two seconds for echo, every three for the others: a burst of
// calls back to back ends long before the next token, even on a busy machine.
const ECHO_LIMIT = 4;
const SERVER_LIMIT = 3;

before(async () => {
  upstream = await startMcpUpstream({ id: 'rl1' });
  mesh = await startMesh({
    config: {
      servers: [
        {
          name: 'tools',
          replicas: [upstream.url],
          policy: {
            rateLimit: { requests: SERVER_LIMIT, per: '9s' },
            tools: { echo: { rateLimit: { requests: ECHO_LIMIT, per: '8s' } } },
          },
        },
      ],
    },
  });
  // Every tool's route is there (the catalog learnt the tools) before any test counts calls.
  await until(async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'tools/tool/whoami'), 'tool routes', 15_000);
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One stateless 2026-07-28 tools/call as raw HTTP, from `localAddress` (a 127.0.0.0/8 address). */
function call(
  tool: string,
  id: number | string | undefined,
  localAddress = '127.0.0.1',
  extraHeaders: Record<string, string> = {},
): Promise<Answer> {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'rate-limit-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    ...(id === undefined ? {} : { id }),
    method: 'tools/call',
    params: { name: tool, arguments: tool === 'echo' ? { text: `t${String(id)}` } : {}, _meta },
  });
  return rawPost(mesh.agentUrl('tools'), body, { headers: { ...modernHeaders('tools/call', tool), ...extraHeaders }, localAddress }).then(
    (a) => ({ status: a.status, headers: a.headers, body: a.text }),
  );
}

/** Waits until `tool` answers 200 again from `localAddress` (its bucket refilled), bounded in time. */
async function waitForToken(tool: string, localAddress = '127.0.0.1', timeoutMs = 5_000): Promise<number> {
  const start = performance.now();
  await until(async () => (await call(tool, 0, localAddress)).status === 200, `${tool} allowed again from ${localAddress}`, timeoutMs, 50);
  return performance.now() - start;
}

/** Calls back to back; the statuses in order. */
async function burst(tool: string, n: number, localAddress = '127.0.0.1', firstId = 1): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < n; i++) out.push(await call(tool, firstId + i, localAddress));
  return out;
}

// Each test is an agent of its own: its own client address, fresh buckets.

test('a tool limit trips at its rate: 429 with Retry-After and a JSON-RPC error, not retried, counted, and it recovers', async () => {
  const agent = '127.0.0.11';
  const upstreamBefore = upstream.calls.get('echo') ?? 0;
  const enforcedBefore = await statValue(mesh.adminUrl, 'mcp_rate_limit__tools__echo.http_local_rate_limit.enforced');
  const answers = await burst('echo', ECHO_LIMIT + 3, agent, 100);
  assert.deepEqual(
    answers.map((a) => a.status),
    [...Array(ECHO_LIMIT).fill(200), 429, 429, 429],
  );
  for (const [i, a] of answers.slice(ECHO_LIMIT).entries()) {
    assert.equal(a.headers['retry-after'], '2');
    assert.match(String(a.headers['content-type']), /^application\/json/);
    const body = JSON.parse(a.body) as {
      jsonrpc: string;
      id: unknown;
      error: { code: number; message: string; data: Record<string, unknown> };
    };
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, 100 + ECHO_LIMIT + i, 'the request id is echoed');
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, /Too Many Requests/);
    assert.equal(body.error.data['reason'], 'rate_limited');
    assert.equal(body.error.data['retryAfterSeconds'], '2');
  }
  // The upstream saw exactly the allowed calls: Envoy neither passed nor retried a refused one.
  assert.equal((upstream.calls.get('echo') ?? 0) - upstreamBefore, ECHO_LIMIT);
  assert.equal(
    (await statValue(mesh.adminUrl, 'mcp_rate_limit__tools__echo.http_local_rate_limit.enforced')) - enforcedBefore,
    3,
    'each refusal counted',
  );
  const prometheus = await (await fetch(`${mesh.adminUrl}/stats/prometheus`)).text();
  assert.match(
    prometheus,
    /^envoy_http_local_rate_limit_enforced\{envoy_local_http_ratelimit_prefix="mcp_rate_limit__tools__echo"\} [1-9]/m,
    'and exported to Prometheus, the route in a label',
  );
  // Recovers: the next token comes within the Retry-After seconds.
  const waited = await waitForToken('echo', agent);
  assert.ok(waited < 2_500, `allowed again after ${Math.round(waited)} ms`);
});

test('the id of a string-id request is echoed, and a request without an id gets null', async () => {
  const agent = '127.0.0.12';
  await burst('echo', ECHO_LIMIT, agent, 200);
  const withString = await call('echo', 'abc-1', agent);
  assert.equal(withString.status, 429);
  assert.equal((JSON.parse(withString.body) as { id: unknown }).id, 'abc-1');
  const withoutId = await call('echo', undefined, agent);
  assert.equal(withoutId.status, 429);
  assert.equal((JSON.parse(withoutId.body) as { id: unknown }).id, null);
});

test('each client address has a bucket of its own', async () => {
  const first = await burst('echo', ECHO_LIMIT + 1, '127.0.0.13', 300);
  assert.equal(first.at(-1)?.status, 429, '127.0.0.13 used its limit');
  const second = await burst('echo', ECHO_LIMIT + 1, '127.0.0.14', 400);
  assert.deepEqual(
    second.map((a) => a.status),
    [...Array(ECHO_LIMIT).fill(200), 429],
    '127.0.0.14 has its whole limit',
  );
});

test('an identity header the agent sends itself is removed: it picks no bucket', async () => {
  const agent = '127.0.0.16';
  const answers: Answer[] = [];
  for (let i = 0; i < ECHO_LIMIT + 2; i++) answers.push(await call('echo', 900 + i, agent, { [AGENT_IDENTITY_HEADER]: `someone-${i}` }));
  assert.deepEqual(
    answers.map((a) => a.status),
    [...Array(ECHO_LIMIT).fill(200), 429, 429],
  );
});

test("each tool has a bucket of its own; tools without a limit of their own get the server's", async () => {
  const agent = '127.0.0.15';
  const whoami = await burst('whoami', SERVER_LIMIT + 1, agent, 500);
  assert.deepEqual(
    whoami.map((a) => a.status),
    [...Array(SERVER_LIMIT).fill(200), 429],
  );
  assert.equal(whoami.at(-1)?.headers['retry-after'], '3');
  const increment = await burst('increment', SERVER_LIMIT + 1, agent, 600);
  assert.deepEqual(
    increment.map((a) => a.status),
    [...Array(SERVER_LIMIT).fill(200), 429],
    'increment counts apart from whoami',
  );
  // A tool the catalog does not know takes the server's route for any tool, and still gets its own bucket.
  const unknownA = await burst('not-a-tool-a', SERVER_LIMIT + 1, agent, 700);
  assert.notEqual(unknownA[0]?.status, 429);
  assert.equal(unknownA.at(-1)?.status, 429);
  const unknownB = await call('not-a-tool-b', 800, agent);
  assert.notEqual(unknownB.status, 429, 'another unknown tool counts apart');
});

test('the MCP clients of both generations see the refusal as an error, and calls work again afterwards', async () => {
  // Both clients connect from 127.0.0.1: one agent, one echo bucket.
  const modern = await connectClient(mesh.agentUrl('tools'), '2026');
  const legacy = new SdkClient({ name: 'rate-limit-sdk1', version: '1.0.0' });
  await legacy.connect(new SdkTransport(new URL(mesh.agentUrl('tools'))));
  try {
    for (let i = 0; i < ECHO_LIMIT; i++) await modern.callTool({ name: 'echo', arguments: { text: `c${i}` } });
    await assert.rejects(modern.callTool({ name: 'echo', arguments: { text: 'over' } }), /Too Many Requests/);
    await assert.rejects(legacy.callTool({ name: 'echo', arguments: { text: 'over' } }), /Too Many Requests/);
    // Retry-After (2 s) later the next token is there.
    await new Promise((r) => setTimeout(r, 2_100));
    const r = await legacy.callTool({ name: 'echo', arguments: { text: 'again' } });
    assert.match(JSON.stringify(r), /again/);
  } finally {
    await modern.close();
    await legacy.close();
  }
});

test('a limit written through the admin API takes effect; a bad one is refused naming its field', async () => {
  const api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry, token: 't0ken' });
  try {
    const put = (policy: unknown) =>
      api.inject({
        method: 'PUT',
        url: '/api/v1/servers/tools/policy',
        headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
        payload: JSON.stringify(policy),
      });
    const bad = await put({ tools: { fail: { rateLimit: { requests: 2, per: '10ms' } } } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /tools\.fail\.rateLimit\.per/);
    const ok = await put({
      rateLimit: { requests: SERVER_LIMIT, per: '9s' },
      tools: { echo: { rateLimit: { requests: ECHO_LIMIT, per: '8s' } }, fail: { rateLimit: { requests: 2, per: '10s' } } },
    });
    assert.ok(ok.statusCode < 300, ok.body);
    // Envoy holds the new route (before it, fail had the server's limit of 3).
    await until(
      async () => {
        const route = (await routeList(mesh.adminUrl)).find((r) => r['name'] === 'tools/tool/fail');
        return /"max_tokens":2\b/.test(JSON.stringify(route?.['typed_per_filter_config'] ?? {}));
      },
      'the new limit of fail in Envoy',
      15_000,
      200,
    );
    // An agent gets exactly the new limit.
    const fresh = await burst('fail', 3, '127.0.0.18', 1000);
    assert.deepEqual(
      fresh.map((a) => a.status),
      [200, 200, 429],
    );
  } finally {
    await api.close();
  }
});
