// The pass-through checks (adapter/pass-through.test.ts: the server's own
// answers, byte for byte) through a real Envoy with authentication on: a JWT
// verified by Envoy on every request, per-tool rules (RBAC) and the list
// filter on the way, for both protocol generations with the v2 client and
// for 2025-era sessions with the SDK 1.x client. The reference is the same
// fixture server spoken to directly over stdio.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as SdkTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type AdapterProcess, connectClient, type Era, FIXTURE_SERVER, startAdapterProcess } from '../../support/adapter-fixture.js';
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type Mesh, routeList, startMesh, statValue } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

let dir: string;
let adapter: AdapterProcess;
let mesh: Mesh;
let issuer: JwtIssuer;
let direct: Client;
let auth: Record<string, string>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-pass-through-auth-'));
  issuer = await startJwtIssuer(dir);
  adapter = await startAdapterProcess('fixture', 2);
  mesh = await startMesh({
    config: {
      auth: corpAuth(issuer),
      servers: [
        {
          name: 'fixture',
          replicas: [adapter.url],
          policy: {
            auth: {
              rules: [
                { name: 'clients', when: { scopes: ['mcp'] }, tools: ['*'], prompts: ['greet'], resources: ['fixture://note'] },
                { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'], prompts: ['*'], resources: ['*'] },
              ],
            },
          },
        },
      ],
    },
  });
  await until(async () => new Set((await routeList(mesh.adminUrl)).map((r) => r['name'])).has('fixture/tool/echo'), 'tool routes', 20_000);
  auth = { authorization: `Bearer ${await issuer.sign({ sub: 'conformance', scope: 'mcp' }, { expiresIn: '1h' })}` };
  direct = new Client({ name: 'direct', version: '1' });
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [FIXTURE_SERVER], stderr: 'ignore' }));
});
after(async () => {
  await direct?.close();
  await mesh?.stop();
  adapter?.child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What the server said, with the cache hints a 2026-07-28 client keeps from the adapter's stamp. */
function comparable(result: Record<string, unknown>): Record<string, unknown> {
  const { ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  return rest;
}

async function callError(p: Promise<unknown>): Promise<{ code: unknown; message: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    // The SDK 1.x client's McpError puts "MCP error <code>: " before the server's message.
    const message = typeof e.message === 'string' ? e.message.replace(/^MCP error -?\d+: /, '') : e.message;
    return { code: e.code, message };
  }
  throw new Error('expected the call to fail');
}

/** The calls of the pass-through test, through `client`, against the direct reference. */
async function sameAnswers(client: Pick<Client, 'callTool' | 'getPrompt' | 'readResource' | 'listTools'>, tag: string): Promise<void> {
  const texts = Array.from({ length: 10 }, (_, k) => `${tag}/${k} ✓ "quoted" \\ back`);
  const expected = await Promise.all(texts.map((text) => direct.callTool({ name: 'echo', arguments: { text } })));
  const got = await Promise.all(texts.map((text) => client.callTool({ name: 'echo', arguments: { text } })));
  assert.deepEqual(
    got.map((r) => comparable(r as Record<string, unknown>)),
    expected.map((r) => comparable(r)),
  );
  assert.deepEqual(
    comparable((await client.callTool({ name: 'fail', arguments: {} })) as Record<string, unknown>),
    comparable(await direct.callTool({ name: 'fail', arguments: {} })),
  );
  assert.deepEqual(
    await callError(client.callTool({ name: 'no-such-tool', arguments: {} })),
    await callError(direct.callTool({ name: 'no-such-tool', arguments: {} })),
  );
  assert.deepEqual(
    comparable((await client.getPrompt({ name: 'greet', arguments: { who: 'mesh' } })) as Record<string, unknown>),
    comparable(await direct.getPrompt({ name: 'greet', arguments: { who: 'mesh' } })),
  );
  assert.deepEqual(
    comparable((await client.readResource({ uri: 'fixture://note' })) as Record<string, unknown>),
    comparable(await direct.readResource({ uri: 'fixture://note' })),
  );
  // Through the list filter: the caller may call every tool, so it sees every tool.
  const names = (r: { tools: Array<{ name: string }> }) => r.tools.map((t) => t.name).sort();
  assert.deepEqual(names(await client.listTools()), names(await direct.listTools()));
}

for (const era of ['2025', '2026'] as Era[]) {
  test(`${era} (v2 client) through Envoy with JWT + rules: the server's own answers`, async () => {
    const allowed0 = await statValue(mesh.adminUrl, 'http.mcp_egress.jwt_authn.allowed');
    const client = await connectClient(mesh.agentUrl('fixture'), era, { name: `auth-${era}`, headers: auth });
    try {
      await sameAnswers(client, era);
    } finally {
      await client.close();
    }
    // Each of those requests was one Envoy verified.
    assert.ok((await statValue(mesh.adminUrl, 'http.mcp_egress.jwt_authn.allowed')) - allowed0 >= 15);
  });
}

test("2025 (SDK 1.x client) through Envoy with JWT + rules: the server's own answers", async () => {
  const client = new SdkClient({ name: 'sdk1-auth', version: '1' });
  await client.connect(new SdkTransport(new URL(mesh.agentUrl('fixture')), { requestInit: { headers: auth } }));
  try {
    await sameAnswers(client as unknown as Client, 'sdk1');
  } finally {
    await client.close();
  }
});

/** One JSON-RPC exchange with a fresh fixture process over raw stdio: the server's exact bytes. */
async function directLine(request: object): Promise<string> {
  const child = spawn(process.execPath, [FIXTURE_SERVER], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (out += c));
  child.stdin.write(
    `${JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
  );
  child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  child.stdin.write(`${JSON.stringify(request)}\n`);
  const end = Date.now() + 10_000;
  while (out.split('\n').filter(Boolean).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  return out.split('\n').filter(Boolean)[1]!;
}

test('2026-07-28 byte for byte through Envoy with JWT + rules: the server line plus the resultType', async () => {
  const request = {
    jsonrpc: '2.0',
    id: 'req-7',
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'exact ✓ \u2028 "q"' } },
  };
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'POST',
    headers: {
      ...auth,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
    },
    body: JSON.stringify({ ...request, params: { ...request.params, _meta: meta } }),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.includes('"resultType":"complete",'));
  assert.equal(text.replace('"resultType":"complete",', ''), await directLine(request));
});
