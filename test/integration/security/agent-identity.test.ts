// Agent identity and per-tool authorization through a real Envoy, with the MCP
// SDK 1.x client (2025-era sessions) and the v2 client (2026-07-28): a request
// without a valid token is 401 with the RFC 9728 pointer, and Envoy serves the
// metadata document the SDK's discovery finds; an allowed tool works, a
// forbidden one is refused (403, JSON-RPC) whatever the headers say, and
// counted per server, tool and rule; the identity headers a client sends never
// reach the upstream.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
  type OAuthClientProvider,
  UnauthorizedError,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type AdapterProcess, startAdapterProcess } from '../../support/adapter-fixture.js';
import { type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const ISSUER = 'https://issuer.mcpmesh.test';
const AUDIENCE = 'mcpmesh-agents';
const ACCEPT = 'application/json, text/event-stream';
const MODERN = '2026-07-28';

let dir: string;
let upstream: McpUpstream;
let adapter: AdapterProcess;
let accessLog: string;
/** An OAuth authorization server's metadata document (RFC 8414) for the SDK's flow; it issues nothing. */
let authServer: http.Server;
let authServerUrl: string;
let mesh: Mesh;
let issuer: JwtIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-authz-'));
  issuer = await startJwtIssuer(dir, ISSUER, AUDIENCE);
  const jwksFile = issuer.jwksFile;
  upstream = await startMcpUpstream({ id: 'a' });
  adapter = await startAdapterProcess('fixture', 1);
  authServer = http.createServer((req, res) => {
    if (req.url !== '/.well-known/oauth-authorization-server') return void res.writeHead(404).end();
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        issuer: authServerUrl,
        authorization_endpoint: `${authServerUrl}/authorize`,
        token_endpoint: `${authServerUrl}/token`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
      }),
    );
  });
  await new Promise<void>((r) => authServer.listen(0, '127.0.0.1', r));
  authServerUrl = `http://127.0.0.1:${(authServer.address() as AddressInfo).port}`;
  accessLog = join(dir, 'access.log');
  mesh = await startMesh({
    observability: { accessLog: { path: accessLog } },
    config: {
      auth: {
        providers: {
          corp: { issuer: ISSUER, audiences: [AUDIENCE], jwks: { file: jwksFile }, forwardClaims: ['email'] },
          oauth: { issuer: ISSUER, audiences: [AUDIENCE], jwks: { file: jwksFile }, authorizationServers: [authServerUrl] },
        },
        default: 'corp',
      },
      servers: [
        {
          name: 'tools',
          replicas: [upstream.url],
          policy: {
            auth: {
              rules: [
                { name: 'readers', when: { scopes: ['tools.read'] }, tools: ['echo', 'whoami'] },
                { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'] },
              ],
            },
          },
        },
        { name: 'oauthed', replicas: [upstream.url], policy: { auth: { provider: 'oauth', scopes: ['mcp.tools'] } } },
        {
          name: 'fixture',
          replicas: [adapter.url],
          policy: {
            auth: {
              rules: [
                { name: 'readers', when: { scopes: ['tools.read'] }, tools: ['echo'] },
                { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'], prompts: ['greet'], resources: ['fixture://note'] },
              ],
            },
          },
        },
      ],
    },
  });
  await until(
    async () => new Set((await routeList(mesh.adminUrl)).map((r) => r['name'])).has('tools/tool/increment'),
    'tool routes',
    20_000,
  );
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
  adapter?.child.kill('SIGKILL');
  authServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const reader = () => issuer.sign({ sub: 'alice', scope: 'openid tools.read', email: 'alice@example.test' });
const operator = () => issuer.sign({ sub: 'olga', scope: 'openid', groups: ['staff', 'ops'] });

function metadataUrl(): string {
  return `http://127.0.0.1:${mesh.listenPort}/.well-known/oauth-protected-resource/mcp/tools`;
}

async function post(headers: Record<string, string>, body: object): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(mesh.agentUrl('tools'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // SSE or plain text: kept as text
  }
  return { status: res.status, headers: res.headers, json };
}

const call = (tool: string, id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: {
    name: tool,
    arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} },
  },
});

function assertUnauthorized(r: { status: number; headers: Headers; json: unknown }, why: string): void {
  assert.equal(r.status, 401, `${why}: ${JSON.stringify(r.json)}`);
  assert.equal(r.headers.get('www-authenticate'), `Bearer resource_metadata="${metadataUrl()}"`, why);
  const body = r.json as { jsonrpc: string; error: { code: number; message: string } };
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.error.code, -32001, why);
  assert.match(body.error.message, /^Unauthorized: /, why);
}

test('no token: 401 with the metadata pointer, and Envoy serves the document the SDK discovers', async () => {
  const r = await post({ 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, call('echo'));
  assertUnauthorized(r, 'no token');
  const fakeResponse = new Response(null, { status: 401, headers: r.headers });
  assert.equal(extractWWWAuthenticateParams(fakeResponse).resourceMetadataUrl?.href, metadataUrl());
  const doc = await discoverOAuthProtectedResourceMetadata(mesh.agentUrl('tools'));
  assert.deepEqual(doc, {
    resource: mesh.agentUrl('tools'),
    authorization_servers: [ISSUER],
    scopes_supported: ['tools.read'],
    bearer_methods_supported: ['header'],
  });
  // The SDK client without a token is refused at connect.
  const client = new Client({ name: 'anon', version: '1' });
  await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('tools')))), /401|Unauthorized/);
});

test("the SDK's own authorization flow follows the 401 to the metadata and on to the authorization server", async () => {
  let authorizationUrl: URL | undefined;
  const provider: OAuthClientProvider = {
    redirectUrl: 'http://127.0.0.1/callback',
    clientMetadata: { redirect_uris: ['http://127.0.0.1/callback'], client_name: 'agent' },
    clientInformation: () => ({ client_id: 'agent' }),
    tokens: () => undefined,
    saveTokens: () => undefined,
    redirectToAuthorization: (url) => {
      authorizationUrl = url;
    },
    saveCodeVerifier: () => undefined,
    codeVerifier: () => 'v',
  };
  const client = new Client({ name: 'oauth', version: '1' });
  await assert.rejects(
    client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('oauthed')), { authProvider: provider })),
    UnauthorizedError,
  );
  assert.ok(authorizationUrl, 'the SDK got as far as sending the user to the authorization server');
  assert.equal(`${authorizationUrl.origin}${authorizationUrl.pathname}`, `${authServerUrl}/authorize`);
  assert.equal(authorizationUrl.searchParams.get('resource'), mesh.agentUrl('oauthed'), 'the resource indicator is the mesh route');
  assert.equal(authorizationUrl.searchParams.get('scope'), 'mcp.tools');
  assert.equal(authorizationUrl.searchParams.get('client_id'), 'agent');
});

test('expired token, wrong audience, bad signature: 401', async () => {
  const claims = { sub: 'alice', scope: 'tools.read' };
  const cases: [string, string][] = [
    ['expired', await issuer.sign(claims, { expiresIn: Math.floor(Date.now() / 1000) - 300 })],
    ['wrong audience', await issuer.sign(claims, { audience: 'someone-else' })],
    ['bad signature', await issuer.sign(claims, { rogue: true })],
    ['not a JWT', 'not-a-jwt'],
  ];
  for (const [why, token] of cases) assertUnauthorized(await post({ authorization: `Bearer ${token}` }, call('echo')), why);
});

test('SDK 1.x client (2025 session): an allowed tool works, a forbidden one is refused', async () => {
  const client = new Client({ name: 'reader', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mesh.agentUrl('tools')), {
      requestInit: { headers: { authorization: `Bearer ${await reader()}` } },
    }),
  );
  try {
    const ok = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'hi (from a)' }]);
    const before = upstream.calls.get('increment') ?? 0;
    await assert.rejects(client.callTool({ name: 'increment', arguments: {} }), /403|Forbidden/);
    assert.equal(upstream.calls.get('increment') ?? 0, before, 'the forbidden call never reached the server');
    const listed = await client.listTools();
    assert.deepEqual(listed.tools.map((t) => t.name).sort(), ['echo', 'whoami'], 'tools/list answers only what the caller may call');
  } finally {
    await client.close();
  }
});

test('v2 client (2026-07-28): an allowed tool works, a forbidden one is refused', async () => {
  const client = new ModernClient({ name: 'reader', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
  await client.connect(
    new ModernTransport(new URL(mesh.agentUrl('tools')), { requestInit: { headers: { authorization: `Bearer ${await reader()}` } } }),
  );
  try {
    const ok = await client.callTool({ name: 'whoami', arguments: {} });
    assert.deepEqual(ok.content, [{ type: 'text', text: 'a' }]);
    await assert.rejects(client.callTool({ name: 'increment', arguments: {} }), /403|Forbidden/);
    const listed = await client.listTools();
    assert.deepEqual(listed.tools.map((t) => t.name).sort(), ['echo', 'whoami']);
  } finally {
    await client.close();
  }
  // The wildcard rule's caller sees every tool.
  const ops = new ModernClient({ name: 'ops', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
  await ops.connect(
    new ModernTransport(new URL(mesh.agentUrl('tools')), { requestInit: { headers: { authorization: `Bearer ${await operator()}` } } }),
  );
  try {
    const all = await ops.listTools();
    assert.deepEqual(all.tools.map((t) => t.name).sort(), ['echo', 'fail', 'increment', 'slow', 'whoami']);
  } finally {
    await ops.close();
  }
});

test('through an adapter: tools, prompts and resources lists and calls follow the rules', async () => {
  const connect = async (token: string) => {
    const c = new Client({ name: 'lists', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return c;
  };
  const r = await connect(await reader());
  try {
    assert.deepEqual(
      (await r.listTools()).tools.map((t) => t.name),
      ['echo'],
    );
    assert.deepEqual((await r.listPrompts()).prompts, []);
    assert.deepEqual((await r.listResources()).resources, []);
    await assert.rejects(r.getPrompt({ name: 'greet', arguments: { who: 'x' } }), /403|Forbidden/);
    await assert.rejects(r.readResource({ uri: 'fixture://note' }), /403|Forbidden/);
  } finally {
    await r.close();
  }
  const o = await connect(await operator());
  try {
    assert.ok((await o.listTools()).tools.length > 5);
    assert.deepEqual(
      (await o.listPrompts()).prompts.map((p) => p.name),
      ['greet'],
    );
    assert.deepEqual(
      (await o.listResources()).resources.map((x) => x.uri),
      ['fixture://note'],
    );
    assert.equal(((await o.readResource({ uri: 'fixture://note' })).contents[0] as { text: string }).text, 'a note');
  } finally {
    await o.close();
  }
});

test('the body decides: headers that name an allowed tool, no headers, and a wildcard rule', async () => {
  const auth = { authorization: `Bearer ${await reader()}` };
  const before = upstream.calls.get('increment') ?? 0;
  // Headers that lie: they name echo, the body calls increment.
  const lying = await post({ ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, call('increment'));
  // Only the body.
  const bodyOnly = await post(auth, call('increment'));
  // Honest headers.
  const honest = await post(
    { ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'increment' },
    call('increment'),
  );
  for (const [why, r] of [
    ['lying headers', lying],
    ['body only', bodyOnly],
    ['honest headers', honest],
  ] as const) {
    assert.equal(r.status, 403, `${why}: ${JSON.stringify(r.json)}`);
    const err = (r.json as { error: { code: number; message: string; data: Record<string, string> } }).error;
    assert.equal(err.code, -32003, why);
    assert.match(
      err.message,
      /^Forbidden: the authorization rules of server tools do not let this caller use tools\/call "increment"/,
      why,
    );
    assert.equal(err.data['rule'], 'rbac_access_denied_matched_policy[tools:tool:*:ops]', why);
  }
  assert.equal(upstream.calls.get('increment') ?? 0, before, 'no forbidden call reached the server');
  // Calling an allowed tool is served (the upstream wants 2026-07-28's headers).
  const allowed = await post({ ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, call('echo'));
  assert.equal(allowed.status, 200, JSON.stringify(allowed.json));
  // A caller the wildcard rule matches may call anything.
  const ops = await post(
    { authorization: `Bearer ${await operator()}`, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'increment' },
    call('increment'),
  );
  assert.equal(ops.status, 200, JSON.stringify(ops.json));
  assert.equal(upstream.calls.get('increment'), before + 1);
  // A body that is not JSON carries calls the rules cannot check: refused.
  const notJson = await fetch(mesh.agentUrl('tools'), {
    method: 'POST',
    headers: { 'content-type': 'text/plain', accept: ACCEPT, ...auth },
    body: JSON.stringify(call('increment')),
  });
  assert.equal(notJson.status, 403, await notJson.text());
  // A JSON object without a method is no call: the server refuses it itself.
  const noMethod = await fetch(mesh.agentUrl('tools'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...auth },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, params: { name: 'increment' } }),
  });
  assert.equal(noMethod.status, 400, await noMethod.text());
  // A batch carries calls json_to_metadata cannot read: refused before any server sees it.
  const batch = await fetch(mesh.agentUrl('tools'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...auth },
    body: JSON.stringify([call('increment')]),
  });
  assert.equal(batch.status, 400);
  assert.match(((await batch.json()) as { error: { message: string } }).error.message, /batches are refused/);
  // The same with 2026-07-28 headers that say tools/call (Envoy picks the list filter's absence from them, before the body):
  // a body without a method, a batch or not JSON, is a header/body disagreement, and a body naming another method too.
  const modernCall = { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'increment', ...auth };
  for (const [why, contentType, body] of [
    ['a batch', 'application/json', JSON.stringify([call('increment')])],
    ['a response', 'application/json', JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} })],
    ['not JSON', 'text/plain', JSON.stringify(call('increment'))],
    ['another method', 'application/json', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })],
  ] as const) {
    const r = await fetch(mesh.agentUrl('tools'), {
      method: 'POST',
      headers: { 'content-type': contentType, accept: ACCEPT, ...modernCall },
      body,
    });
    const text = await r.text();
    assert.equal(r.status, 400, `${why}: ${text}`);
    assert.equal((JSON.parse(text) as { error: { code: number } }).error.code, -32020, why);
  }
  assert.equal(upstream.calls.get('increment'), before + 1, 'nothing refused reached the server');
});

test('denials are counted per server, tool and rule', async () => {
  const auth = { authorization: `Bearer ${await reader()}` };
  const read = async () => {
    const text = await (await fetch(`${mesh.adminUrl}/stats?filter=rbac`)).text();
    const line = text.split('\n').find((l) => l.startsWith('http.mcp_egress.rbac.policy.tools:tool:*:ops.denied:'));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const before = await read();
  for (let i = 0; i < 3; i++) assert.equal((await post(auth, call('increment', i))).status, 403);
  assert.equal(await read(), before + 3, await (await fetch(`${mesh.adminUrl}/stats?filter=rbac`)).text());
  // Prometheus gets the policy as a label.
  const prom = (await (await fetch(`${mesh.adminUrl}/stats/prometheus`)).text()).split('\n');
  const series = prom.find(
    (l) => l.startsWith('envoy_http_rbac_policy_denied{') && l.includes('envoy_rbac_policy_name="tools:tool:*:ops"'),
  );
  assert.ok(series, prom.filter((l) => l.includes('rbac')).join('\n'));
  assert.equal(Number(series.slice(series.lastIndexOf(' ') + 1)), await read());
});

test('identity headers a client sends are replaced by the verified claims', async () => {
  const r = await post(
    {
      authorization: `Bearer ${await reader()}`,
      'mcp-protocol-version': MODERN,
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      'x-mcpmesh-agent': 'root',
      'x-mcpmesh-agent-extra': 'x',
      'x-mcpmesh-claim-email': 'root@evil.test',
      'x-mcpmesh-claim-groups': 'ops',
    },
    call('echo'),
  );
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const seen = upstream.lastPostHeaders();
  assert.equal(seen?.['x-mcpmesh-agent'], 'alice');
  assert.equal(seen?.['x-mcpmesh-claim-email'], 'alice@example.test');
  assert.equal(seen?.['x-mcpmesh-agent-extra'], undefined);
  assert.equal(seen?.['x-mcpmesh-claim-groups'], undefined);
  assert.equal(seen?.['authorization'], undefined, 'the token is for the mesh, not passed on');
  // Envoy's access log names the verified agent.
  let line: Record<string, unknown> | undefined;
  await until(() => {
    const found = readFileSync(accessLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"agent":"alice"') && l.includes('"tool":"echo"'));
    if (found.length > 0) line = JSON.parse(found.at(-1)!) as Record<string, unknown>;
    return line !== undefined;
  }, 'the access log line');
  assert.equal(line!['agent'], 'alice');
});
