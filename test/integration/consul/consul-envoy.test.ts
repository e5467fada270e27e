// Consul → control plane → real Envoy: registration, health, KV policy, and
// Consul killed for 30 s under a steady stream of tool calls.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type ConsulAgent, registerService, setCheck, startConsul } from '../../support/consul.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

async function whoami(url: string): Promise<string> {
  const client = new Client({ name: 'it', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const r = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
    return r.content[0]!.text;
  } finally {
    await client.close();
  }
}

/** A raw stateless echo call (no SDK client per call: a steady stream needs cheap calls). */
async function echo(url: string, i: number): Promise<boolean> {
  try {
    const res = await postToolCall(url, 'echo', { text: `c${i}` }, { id: i });
    return res.status === 200 && (await res.text()).includes(`c${i}`);
  } catch {
    return false;
  }
}

describe('Consul-driven mesh with a real Envoy', () => {
  let consul: ConsulAgent;
  let mesh: Mesh;
  const upstreams: McpUpstream[] = [];

  before(async () => {
    consul = await startConsul();
    for (const id of ['c1', 'c2']) upstreams.push(await startMcpUpstream({ id }));
    mesh = await startMesh({ consulUrl: consul.url });
  });
  after(async () => {
    await mesh?.stop();
    for (const u of upstreams) await u.close();
    await consul?.stop();
  });

  test('a registered MCP server is callable through Envoy; deregistered, it is gone', async () => {
    await registerService(consul, { name: 'svc', id: 'c1', port: upstreams[0]!.port });
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).length === 1, 'endpoint in Envoy');
    assert.equal(await whoami(mesh.agentUrl('svc')), 'c1');
    await registerService(consul, { name: 'other', id: 'o1', port: upstreams[1]!.port });
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_other')).length === 1, 'second server');
    await consul.api('PUT', '/v1/agent/service/deregister/o1');
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_other')).length === 0, 'deregistered server gone');
    const res = await fetch(mesh.agentUrl('other'), { method: 'POST', body: '{}' });
    assert.equal(res.status, 404);
  });

  test('a replica whose check turns critical gets no traffic; passing again, it gets traffic back', async () => {
    await registerService(consul, { name: 'svc', id: 'c2', port: upstreams[1]!.port });
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).filter((h) => h.healthy).length === 2, 'two healthy');
    await setCheck(consul, 'c2', 'fail');
    await until(
      async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).filter((h) => h.healthy).length === 1,
      'c2 unhealthy in Envoy',
    );
    for (let i = 0; i < 20; i++) assert.equal(await whoami(mesh.agentUrl('svc')), 'c1');
    await setCheck(consul, 'c2', 'pass');
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).filter((h) => h.healthy).length === 2, 'c2 healthy again');
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(await whoami(mesh.agentUrl('svc')));
    assert.deepEqual([...seen].sort(), ['c1', 'c2']);
  });

  test('a policy written to KV changes the retry policy in Envoy; an invalid one changes nothing and is reported', async () => {
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/svc', { tools: { echo: { retry: { attempts: 6 } } } });
    const echoRetries = async () =>
      ((await routeList(mesh.adminUrl)).find((r) => r['name'] === 'svc/tool/echo')?.['route'] as Record<string, any> | undefined)?.[
        'retry_policy'
      ]?.num_retries;
    await until(async () => (await echoRetries()) === 6, 'KV policy in config_dump');
    await consul.api('PUT', '/v1/kv/mcpmesh/policy/svc', { tools: { echo: { retry: { attempts: 'many' } } } });
    const rejections = async () =>
      (await mesh.metrics.sourceRejected.get()).values.find((v) => v.labels['kind'] === 'policy' && v.labels['server'] === 'svc')?.value ??
      0;
    await until(async () => (await rejections()) === 1, 'rejection counted');
    assert.equal(await echoRetries(), 6);
  });

  test('Consul killed for 30 s under steady calls: no call fails, no endpoint disappears, later changes arrive', async () => {
    const url = mesh.agentUrl('svc');
    let sent = 0;
    let failed = 0;
    let stop = false;
    let minHosts = Infinity;
    const deadline = performance.now() + 60_000;
    const load = (async () => {
      while (!stop && sent < 50_000 && performance.now() < deadline) {
        const i = ++sent;
        if (!(await echo(url, i))) failed++;
      }
    })();
    const watchHosts = (async () => {
      while (!stop && performance.now() < deadline) {
        minHosts = Math.min(minHosts, (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).filter((h) => h.healthy).length);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      await consul.kill();
      await until(() => mesh.cp.source().stale, 'source stale', 20_000);
      assert.equal(mesh.admin.readiness().checks['sourceFresh']?.ok, false);
      await new Promise((r) => setTimeout(r, 30_000));
      await consul.start();
      // The adapters' registration module re-registers after a restart; here the test does it.
      await registerService(consul, { name: 'svc', id: 'c1', port: upstreams[0]!.port });
      await registerService(consul, { name: 'svc', id: 'c2', port: upstreams[1]!.port });
      await until(() => !mesh.cp.source().stale, 'fresh again', 20_000);
    } finally {
      stop = true;
      await Promise.all([load, watchHosts]);
    }
    assert.ok(sent > 200, `steady stream (${sent} calls)`);
    assert.equal(failed, 0, `${failed} of ${sent} calls failed`);
    assert.equal(minHosts, 2, 'no endpoint disappeared from Envoy');
    // A change after the restart still arrives.
    await consul.api('PUT', '/v1/agent/service/deregister/c2');
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_svc')).length === 1, 'change after restart');
  });
});
