// The resource rules beyond resources/read, through a real Envoy in front of
// the fixture adapter: resources/templates/list shows only the templates that
// reach a URI the caller may read; resources/subscribe (2025-era session,
// the SDK 1.x client) and the 2026-07-28 subscriptions/listen refuse a URI
// the caller may not read (403, a JSON-RPC error naming it; the listen's
// refusal counted per server) and let the others through.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type AdapterProcess, startAdapterProcess } from '../../support/adapter-fixture.js';
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { MODERN_META, modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { until } from '../../support/wait.js';

let dir: string;
let adapter: AdapterProcess;
let mesh: Mesh;
let issuer: JwtIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-resource-rules-'));
  issuer = await startJwtIssuer(dir);
  adapter = await startAdapterProcess('fixture', 1);
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
                {
                  name: 'readers',
                  when: { scopes: ['notes.read'] },
                  tools: ['echo'],
                  resources: ['fixture://notes/a', 'fixture://watched'],
                },
                { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'], resources: ['*'] },
              ],
            },
          },
        },
      ],
    },
  });
  await until(async () => new Set((await routeList(mesh.adminUrl)).map((r) => r['name'])).has('fixture/listen/2026'), 'routes', 20_000);
});
after(async () => {
  await mesh?.stop();
  adapter?.child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const reader = () => issuer.sign({ sub: 'alice', scope: 'notes.read' });
const ops = () => issuer.sign({ sub: 'root', groups: ['ops'] });
const nobody = () => issuer.sign({ sub: 'eve' });

async function modern(method: string, params: Record<string, unknown>, token: string) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: { ...params, _meta: MODERN_META } });
  return rawPost(mesh.agentUrl('fixture'), body, { headers: { ...modernHeaders(method), authorization: `Bearer ${token}` } });
}

async function templates(token: string): Promise<string[]> {
  const res = await modern('resources/templates/list', {}, token);
  assert.equal(res.status, 200, res.text);
  const body = JSON.parse(res.text) as { result: { resourceTemplates: { uriTemplate: string }[] } };
  return body.result.resourceTemplates.map((t) => t.uriTemplate).sort();
}

test('resources/templates/list: a template is shown when it reaches a URI the caller may read', async () => {
  assert.deepEqual(await templates(await ops()), ['fixture://notes/{name}', 'fixture://secrets/{id}']);
  assert.deepEqual(await templates(await reader()), ['fixture://notes/{name}']);
  assert.deepEqual(await templates(await nobody()), []);
  // The same through a 2025-era session (the SDK 1.x client), answered as SSE or JSON.
  const client = new Client({ name: 'templates', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')), {
      requestInit: { headers: { authorization: `Bearer ${await reader()}` } },
    }),
  );
  try {
    const listed = await client.listResourceTemplates();
    assert.deepEqual(
      listed.resourceTemplates.map((t) => t.uriTemplate),
      ['fixture://notes/{name}'],
    );
  } finally {
    await client.close();
  }
});

test('resources/subscribe (2025-era session): a URI the caller may not read is refused, one it may read works', async () => {
  const client = new Client({ name: 'subscriber', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')), {
      requestInit: { headers: { authorization: `Bearer ${await reader()}` } },
    }),
  );
  try {
    await client.subscribeResource({ uri: 'fixture://watched' });
    await assert.rejects(client.subscribeResource({ uri: 'fixture://note' }), /403|Forbidden/);
  } finally {
    await client.close();
  }
});

/** A listen POST through Envoy: its status, and its first event (or whole body) as text. */
function listen(uris: readonly string[], token: string): Promise<{ status: number; first: string }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 'listen-1',
    method: 'subscriptions/listen',
    params: { _meta: MODERN_META, notifications: { resourceSubscriptions: uris } },
  });
  const url = new URL(mesh.agentUrl('fixture'));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...modernHeaders('subscriptions/listen'), authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (res) => {
        let text = '';
        const done = () => {
          resolve({ status: res.statusCode ?? 0, first: text });
          req.destroy();
        };
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          // A stream: its first event is enough.
          if (res.headers['content-type']?.startsWith('text/event-stream') && /data: .*\n\n/.test(text)) done();
        });
        res.on('end', done);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.end(body);
  });
}

test('subscriptions/listen (2026-07-28): every URI must be readable by the caller', async () => {
  const refused = await listen(['fixture://watched', 'fixture://note'], await reader());
  assert.equal(refused.status, 403, refused.first);
  const error = (JSON.parse(refused.first) as { error: { code: number; message: string; data: Record<string, string> } }).error;
  assert.equal(error.code, -32003);
  assert.match(error.message, /^Forbidden: the authorization rules of server fixture do not let this caller use subscriptions\/listen/);
  assert.match(error.message, /fixture:\/\/note/);
  assert.equal(error.data['rule'], 'fixture:resource:listen:forbidden');
  // Counted per server by the control plane.
  const denied = (await mesh.metrics.listenDenied.get()).values.find((v) => v.labels.server === 'fixture');
  assert.equal(denied?.value, 1);
  // Readable URIs only: the stream starts with the acknowledgement.
  const ok = await listen(['fixture://watched'], await reader());
  assert.equal(ok.status, 200, ok.first);
  assert.match(ok.first, /notifications\/subscriptions\/acknowledged/);
  // A wildcard rule may listen to anything.
  assert.equal((await listen(['fixture://note'], await ops())).status, 200);
});
