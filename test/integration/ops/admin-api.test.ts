// The admin API driving a real mesh: a policy set through the API reaches
// Envoy; a drained replica gets no new calls while its call in flight finishes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { FastifyInstance } from 'fastify';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const upstreams: McpUpstream[] = [];
let mesh: Mesh;
let api: FastifyInstance;
const auth = { authorization: 'Bearer t0ken' };

before(async () => {
  for (const id of ['a1', 'a2']) upstreams.push(await startMcpUpstream({ id }));
  mesh = await startMesh({ config: { servers: [{ name: 'tools', replicas: upstreams.map((u) => u.url) }] } });
  api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry, token: 't0ken' });
});
after(async () => {
  await api?.close();
  await mesh?.stop();
  for (const u of upstreams) await u.close();
});

async function client(): Promise<Client> {
  const c = new Client({ name: 'it', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await c.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('tools'))));
  return c;
}
const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]?.text ?? '';

test('a policy set through the API is written to the file and reaches Envoy', async () => {
  const listed = async () =>
    (await api.inject({ url: '/api/v1/servers' })).json().servers.find((s: { name: string }) => s.name === 'tools');
  // Read once before the change: the list is served from a cached serialization, which must follow it.
  assert.equal((await listed()).explicitPolicy, null);
  const bad = await api.inject({
    method: 'PUT',
    url: '/api/v1/servers/tools/policy',
    headers: auth,
    payload: { tools: { echo: { retry: { attempts: 'x' } } } },
  });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error.details[0], /policy\.tools\.echo\.retry\.attempts/);
  const ok = await api.inject({
    method: 'PUT',
    url: '/api/v1/servers/tools/policy',
    headers: auth,
    payload: { tools: { echo: { retry: { attempts: 7 } } } },
  });
  assert.equal(ok.statusCode, 202);
  await until(
    async () =>
      ((await routeList(mesh.adminUrl)).find((r) => r['name'] === 'tools/tool/echo')?.['route'] as Record<string, any> | undefined)?.[
        'retry_policy'
      ]?.num_retries === 7,
    'policy in Envoy',
  );
  const view = (await api.inject({ url: '/api/v1/servers/tools' })).json();
  assert.deepEqual(view.explicitPolicy, { tools: { echo: { retry: { attempts: 7 } } } });
  assert.deepEqual((await listed()).explicitPolicy, view.explicitPolicy);
  const clients = (await api.inject({ url: '/api/v1/clients' })).json().clients;
  assert.equal(clients.length, 1);
  assert.ok(clients[0].acked.routes);
});

test('a drained replica gets no new calls; its call in flight finishes', async () => {
  const c = await client();
  try {
    const slowCalls = () => upstreams.map((u) => u.calls.get('slow') ?? 0);
    const before = slowCalls();
    const inFlight = c.callTool({ name: 'slow', arguments: { ms: 1500 } });
    await until(() => slowCalls().some((n, i) => n > before[i]!), 'slow call started');
    const busy = slowCalls().findIndex((n, i) => n > before[i]!);
    const victim = upstreams[busy]!;
    const replicaId = `127.0.0.1:${victim.port}`;
    const drained = await api.inject({
      method: 'POST',
      url: `/api/v1/servers/tools/replicas/${encodeURIComponent(replicaId)}/drain`,
      headers: auth,
    });
    assert.equal(drained.statusCode, 200, drained.body);
    await until(
      async () =>
        (await api.inject({ url: '/api/v1/servers/tools' }))
          .json()
          .replicas.some((r: { id: string; drained: boolean }) => r.id === replicaId && r.drained),
      'drained in the view',
    );
    const listed = (await api.inject({ url: '/api/v1/servers' })).json().servers.find((s: { name: string }) => s.name === 'tools');
    assert.ok(
      listed.replicas.some((r: { id: string; drained: boolean }) => r.id === replicaId && r.drained),
      'drained in the list',
    );
    await until(() => mesh.cp.ads.isConverged(), 'Envoy has the drain');
    const whoBefore = victim.calls.get('whoami') ?? 0;
    for (let i = 0; i < 20; i++) assert.notEqual(text(await c.callTool({ name: 'whoami', arguments: {} })), victim.id);
    assert.equal(victim.calls.get('whoami') ?? 0, whoBefore);
    assert.match(text(await inFlight), new RegExp(`slept 1500 on ${victim.id}`));
    const back = await api.inject({
      method: 'POST',
      url: `/api/v1/servers/tools/replicas/${encodeURIComponent(replicaId)}/undrain`,
      headers: auth,
    });
    assert.equal(back.statusCode, 200);
  } finally {
    await c.close();
  }
});
