// Agent identity from Consul: the mesh's providers in KV mcpmesh/policy/_mesh,
// a server's rules in KV mcpmesh/policy/<server> and then through the admin
// API (which stores them in KV), enforced by a real Envoy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ConsulAgent, registerService, startConsul } from '../../support/consul.js';
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

let dir: string;
let consul: ConsulAgent;
let upstream: McpUpstream;
let mesh: Mesh;
let issuer: JwtIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-authz-consul-'));
  issuer = await startJwtIssuer(dir);
  consul = await startConsul();
  upstream = await startMcpUpstream({ id: 'k1' });
  mesh = await startMesh({ consulUrl: consul.url });
  await registerService(consul, { name: 'svc', id: 'k1', port: upstream.port });
  await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).length === 1, 'endpoint in Envoy');
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
  await consul?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function callTool(tool: string, token?: string): Promise<number> {
  const res = await postToolCall(mesh.agentUrl('svc'), tool, tool === 'echo' ? { text: 'x' } : {}, {
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  await res.arrayBuffer();
  return res.status;
}

test('providers from KV _mesh and rules from KV, then from the admin API', async () => {
  assert.equal(await callTool('echo'), 200, 'no auth configured yet');
  await consul.api('PUT', '/v1/kv/mcpmesh/policy/_mesh', {
    auth: corpAuth(issuer),
  });
  await until(async () => (await callTool('echo')) === 401, 'tokens required after the KV write');
  const res = await fetch(mesh.agentUrl('svc'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.match(res.headers.get('www-authenticate') ?? '', /resource_metadata=".*\/\.well-known\/oauth-protected-resource\/mcp\/svc"/);
  const token = await issuer.sign({ sub: 'carol', scope: 'read' });
  assert.equal(await callTool('increment', token), 200, 'no rules: every verified caller may call anything');

  await consul.api('PUT', '/v1/kv/mcpmesh/policy/svc', {
    auth: { rules: [{ name: 'readers', when: { scopes: ['read'] }, tools: ['echo'] }] },
  });
  await until(async () => (await callTool('increment', token)) === 403, 'rules from KV enforced');
  assert.equal(await callTool('echo', token), 200);

  // The admin API validates and stores the policy in KV; the source reads it back.
  await mesh.admin.setPolicy('svc', { auth: { rules: [{ name: 'readers', when: { scopes: ['read'] }, tools: ['echo', 'increment'] }] } });
  await until(async () => (await callTool('increment', token)) === 200, 'rules from the admin API enforced');
  const stored = (await consul.api('GET', '/v1/kv/mcpmesh/policy/svc?raw')) as { auth: { rules: { tools: string[] }[] } };
  assert.deepEqual(stored.auth.rules[0]!.tools, ['echo', 'increment']);
  assert.ok((await routeList(mesh.adminUrl)).some((r) => r['name'] === 'svc/resource-metadata'));
});
