// Issue 2 against a real Envoy: ACKs in SotW and delta, config_dump contents,
// MCP calls of both protocol generations, live edits, and a control-plane restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, dynamicClusters, type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

function replicaConfig(upstreams: readonly McpUpstream[], extra: object = {}) {
  return { servers: [{ name: 'tools', replicas: upstreams.map((u) => u.url), ...extra }] };
}

async function connect(url: string, era: '2025' | '2026'): Promise<Client> {
  const client = new Client(
    { name: 'it', version: '1.0.0' },
    era === '2026' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

function text(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

for (const variant of ['sotw', 'delta'] as const) {
  describe(`control plane → real Envoy (${variant})`, () => {
    const upstreams: McpUpstream[] = [];
    let mesh: Mesh;

    before(async () => {
      for (const id of ['r1', 'r2', 'r3']) upstreams.push(await startMcpUpstream({ id }));
      mesh = await startMesh({
        config: replicaConfig(upstreams, { policy: { tools: { slow: { timeout: '7s', retry: { attempts: 4 } } } } }),
        delta: variant === 'delta',
      });
    });
    after(async () => {
      await mesh?.stop();
      for (const u of upstreams) await u.close();
    });

    test('Envoy ACKs clusters, endpoints, listener and routes; config_dump shows the policies', async () => {
      await until(
        async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'tools/tool/echo'),
        'per-tool routes learned from tools/list',
      );
      const clients = mesh.cp.clients();
      assert.equal(clients.length, 1);
      assert.equal(clients[0]!.variant, variant);
      for (const t of ['clusters', 'endpoints', 'listeners', 'routes'] as const) assert.ok(clients[0]!.acked[t], `ACKed ${t}`);
      assert.equal(clients[0]!.lastNack, undefined);

      const cluster = (await dynamicClusters(mesh.adminUrl)).find((c) => c['name'] === 'mcp_tools')!;
      const lb = (cluster['load_balancing_policy'] as { policies: { typed_extension_config: { name: string } }[] }).policies;
      assert.equal(lb[0]!.typed_extension_config.name, 'envoy.load_balancing_policies.least_request');
      const od = cluster['outlier_detection'] as Record<string, unknown>;
      assert.equal(od['max_ejection_percent'], 50);
      assert.equal(od['enforcing_consecutive_gateway_failure'], 100);
      assert.equal(od['split_external_local_origin_errors'], true);

      const routes = await routeList(mesh.adminUrl);
      const byName = new Map(routes.map((r) => [r['name'], r['route'] as Record<string, any>]));
      // echo is read-only: any retryable failure; increment is not idempotent: only never-reached failures.
      assert.equal(byName.get('tools/tool/echo')!['retry_policy'].retry_on, '5xx,reset,connect-failure,refused-stream,retriable-headers');
      assert.equal(
        byName.get('tools/tool/increment')!['retry_policy'].retry_on,
        'connect-failure,refused-stream,reset-before-request,retriable-headers',
      );
      assert.equal(byName.get('tools/tool/slow')!['timeout'], '7s');
      assert.equal(byName.get('tools/tool/slow')!['retry_policy'].num_retries, 4);
      assert.equal(byName.get('tools/default')!['timeout'], '0s');
      assert.equal(byName.get('tools/default')!['prefix_rewrite'], '/mcp');
    });

    test('a 2025-11-25 session stays on one replica', async () => {
      const client = await connect(mesh.agentUrl('tools'), '2025');
      try {
        const seen = new Set<string>();
        for (let i = 0; i < 12; i++) seen.add(text(await client.callTool({ name: 'whoami', arguments: {} })));
        assert.equal(seen.size, 1, `one replica for the session, saw ${[...seen].join(', ')}`);
        assert.ok(['r1', 'r2', 'r3'].some((id) => [...seen][0]!.includes(id)));
      } finally {
        await client.close();
      }
    });

    test('2026-07-28 stateless calls reach the replicas', async () => {
      const client = await connect(mesh.agentUrl('tools'), '2026');
      try {
        const seen = new Set<string>();
        for (let i = 0; i < 30; i++) seen.add(text(await client.callTool({ name: 'whoami', arguments: {} })));
        assert.ok(seen.size >= 2, `stateless calls are balanced, saw ${[...seen].join(', ')}`);
        assert.match(text(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })), /hi/);
      } finally {
        await client.close();
      }
    });
  });
}

describe('live edits of the config file (no restart)', () => {
  const upstreams: McpUpstream[] = [];
  let mesh: Mesh;
  before(async () => {
    for (const id of ['e1', 'e2', 'e3']) upstreams.push(await startMcpUpstream({ id }));
    mesh = await startMesh({ config: replicaConfig(upstreams.slice(0, 2)) });
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).length === 2, 'two replicas');
  });
  after(async () => {
    await mesh?.stop();
    for (const u of upstreams) await u.close();
  });

  test('adding and removing replicas, and changing a policy, reach Envoy', async () => {
    mesh.writeConfig(replicaConfig(upstreams));
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).length === 3, 'replica added');
    mesh.writeConfig(replicaConfig(upstreams.slice(1)));
    await until(async () => {
      const hosts = (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).map((h) => h.address);
      return hosts.length === 2 && !hosts.includes(`127.0.0.1:${upstreams[0]!.port}`);
    }, 'replica removed');
    mesh.writeConfig(replicaConfig(upstreams.slice(1), { policy: { tools: { echo: { retry: { attempts: 5 } } } } }));
    await until(async () => {
      const echo = (await routeList(mesh.adminUrl)).find((r) => r['name'] === 'tools/tool/echo');
      return (echo?.['route'] as Record<string, any> | undefined)?.['retry_policy']?.num_retries === 5;
    }, 'tool policy changed');
    mesh.writeConfig({ servers: [...replicaConfig(upstreams.slice(1)).servers, { name: 'second', replicas: [upstreams[0]!.url] }] });
    await until(async () => (await dynamicClusters(mesh.adminUrl)).some((c) => c['name'] === 'mcp_second'), 'server added');
    const client = await connect(mesh.agentUrl('second'), '2026');
    try {
      assert.match(text(await client.callTool({ name: 'whoami', arguments: {} })), /e1/);
    } finally {
      await client.close();
    }
  });

  test('a change to one server leaves the endpoints of the others in place', async () => {
    const two = (tools: readonly McpUpstream[]) => ({
      servers: [...replicaConfig(tools).servers, { name: 'second', replicas: [upstreams[0]!.url] }],
    });
    mesh.writeConfig(two(upstreams.slice(1)));
    await until(
      async () =>
        (await clusterHostStatus(mesh.adminUrl, 'mcp_second')).length === 1 &&
        (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).length === 2,
      'two servers',
    );
    mesh.writeConfig(two(upstreams.slice(2)));
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).length === 1, 'tools down to one replica');
    assert.deepEqual(
      (await clusterHostStatus(mesh.adminUrl, 'mcp_second')).map((h) => h.address),
      [`127.0.0.1:${upstreams[0]!.port}`],
    );
  });

  test('an invalid edit changes nothing and is reported; the next valid one applies', async () => {
    const before = mesh.cp.ads.currentGeneration();
    const clustersBefore = JSON.stringify(await dynamicClusters(mesh.adminUrl));
    mesh.writeConfig('servers:\n  - name: tools\n    replicas: [http://127.0.0.1:1/mcp]\n    policy: { timeout: forever }\n');
    await until(() => mesh.cp.source().lastError !== undefined, 'error reported');
    assert.match(mesh.cp.source().lastError!, /servers\.0\.policy\.timeout: "forever" is not a duration/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(mesh.cp.ads.currentGeneration(), before);
    assert.equal(JSON.stringify(await dynamicClusters(mesh.adminUrl)), clustersBefore);
    mesh.writeConfig(replicaConfig(upstreams));
    await until(async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).length === 3, 'valid edit applied');
    assert.equal(mesh.cp.source().lastError, undefined);
  });
});
