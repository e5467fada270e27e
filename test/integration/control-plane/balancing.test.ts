// Each balancing strategy through a real Envoy and three replicas: visible in
// Envoy's /config_dump, and in where the calls land.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { dynamicClusters, type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { modernToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

type Json = Record<string, unknown>;
const upstreams: McpUpstream[] = [];
let mesh: Mesh;

before(async () => {
  for (const id of ['b1', 'b2', 'b3']) upstreams.push(await startMcpUpstream({ id }));
  const replicas = upstreams.map((u) => u.url);
  mesh = await startMesh({
    config: {
      servers: [
        { name: 'rr', replicas, policy: { loadBalancing: { strategy: 'round-robin' } } },
        { name: 'rnd', replicas, policy: { loadBalancing: { strategy: 'random' } } },
        {
          name: 'hashed',
          replicas,
          policy: {
            loadBalancing: { strategy: 'ring-hash', hashOn: { argument: 'text' } },
            // One tool balanced its own way: a cluster of its own over the same endpoints.
            tools: { whoami: { loadBalancing: { strategy: 'maglev', hashOn: { header: 'x-tenant' } } } },
          },
        },
        { name: 'lr', replicas },
      ],
    },
  });
});
after(async () => {
  await mesh?.stop();
  for (const u of upstreams) await u.close();
});

/** The replica id at the end of a whoami or echo answer. */
function replicaOf(text: string): string {
  const m = /(b[123])\)?$/.exec(text);
  assert.ok(m, `an answer naming its replica: ${text}`);
  return m[1]!;
}

function lbPolicyName(cluster: Json): string {
  const policies = (cluster['load_balancing_policy'] as { policies: { typed_extension_config: { name: string } }[] }).policies;
  return policies[0]!.typed_extension_config.name;
}

async function clustersByName(): Promise<Map<string, Json>> {
  return new Map((await dynamicClusters(mesh.adminUrl)).map((c) => [String(c['name']), c]));
}

async function spread(
  server: string,
  n: number,
  tool: string,
  args: (i: number) => Record<string, unknown>,
  headers?: (i: number) => Record<string, string>,
) {
  const url = mesh.agentUrl(server);
  const landed: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await modernToolCall(url, i, tool, args(i), headers?.(i));
    assert.ok(r.ok, r.detail);
    landed.push(replicaOf(r.text));
  }
  return landed;
}

function counts(landed: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of landed) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

test('every strategy is in the config dump; a tool with its own strategy has a cluster of its own over the same endpoints', async () => {
  await until(async () => (await clustersByName()).size >= 5, 'clusters delivered', 15_000);
  const clusters = await clustersByName();
  assert.equal(lbPolicyName(clusters.get('mcp_rr')!), 'envoy.load_balancing_policies.round_robin');
  assert.equal(lbPolicyName(clusters.get('mcp_rnd')!), 'envoy.load_balancing_policies.random');
  assert.equal(lbPolicyName(clusters.get('mcp_hashed')!), 'envoy.load_balancing_policies.ring_hash');
  assert.equal(lbPolicyName(clusters.get('mcp_lr')!), 'envoy.load_balancing_policies.least_request');
  const variant = [...clusters.keys()].find((n) => n.startsWith('mcp_hashed~maglev-'));
  assert.ok(variant, `a maglev cluster for whoami among ${[...clusters.keys()].join(', ')}`);
  assert.equal(lbPolicyName(clusters.get(variant)!), 'envoy.load_balancing_policies.maglev');
  assert.equal((clusters.get(variant)!['eds_cluster_config'] as Json)['service_name'], 'mcp_hashed');
  const routes = await routeList(mesh.adminUrl);
  const whoami = routes.find((r) => r['name'] === 'hashed/tool/whoami')!;
  assert.equal((whoami['route'] as Json)['cluster'], variant);
  assert.deepEqual((whoami['route'] as Json)['hash_policy'], [{ header: { header_name: 'x-tenant' } }]);
  const echo = routes.find((r) => r['name'] === 'hashed/tool/echo')!;
  assert.equal((echo['route'] as Json)['cluster'], 'mcp_hashed');
  assert.deepEqual((echo['route'] as Json)['hash_policy'], [{ header: { header_name: 'x-mcpmesh-hash-key' } }]);
});

test('round-robin spreads calls evenly over the three replicas', async () => {
  await until(async () => (await modernToolCall(mesh.agentUrl('rr'), 0, 'whoami', {})).ok, 'rr serving', 15_000);
  const c = counts(await spread('rr', 300, 'whoami', () => ({})));
  for (const id of ['b1', 'b2', 'b3']) {
    const n = c.get(id) ?? 0;
    // Envoy's workers each keep their own rotation: close to a third, not exactly.
    assert.ok(n >= 80 && n <= 120, `round-robin gave ${id} ${n} of 300 (${JSON.stringify([...c])})`);
  }
});

test('random reaches every replica', async () => {
  await until(async () => (await modernToolCall(mesh.agentUrl('rnd'), 0, 'whoami', {})).ok, 'rnd serving', 15_000);
  const c = counts(await spread('rnd', 300, 'whoami', () => ({})));
  for (const id of ['b1', 'b2', 'b3'])
    assert.ok((c.get(id) ?? 0) >= 45, `random gave ${id} ${c.get(id) ?? 0} of 300 (${JSON.stringify([...c])})`);
});

test('ring-hash on an argument sends equal arguments to one replica, and different ones to several', async () => {
  await until(async () => (await modernToolCall(mesh.agentUrl('hashed'), 0, 'echo', { text: 'x' })).ok, 'hashed serving', 15_000);
  const keys = Array.from({ length: 12 }, (_, k) => `key-${k}`);
  const landed = await spread('hashed', 120, 'echo', (i) => ({ text: keys[i % keys.length]! }));
  const byKey = new Map<string, Set<string>>();
  landed.forEach((id, i) => {
    const k = keys[i % keys.length]!;
    byKey.set(k, (byKey.get(k) ?? new Set()).add(id));
  });
  for (const [k, ids] of byKey) assert.equal(ids.size, 1, `${k} landed on ${[...ids].join(', ')}`);
  assert.ok(new Set(landed).size >= 2, `12 keys over more than one replica (${[...new Set(landed)].join(', ')})`);
  // What a client sends in the hash key header itself does not choose the replica.
  const forged = await spread(
    'hashed',
    12,
    'echo',
    () => ({ text: 'key-0' }),
    (i) => ({ 'x-mcpmesh-hash-key': `forged-${i}` }),
  );
  assert.equal(new Set(forged).size, 1, `key-0 with forged hash headers landed on ${[...new Set(forged)].join(', ')}`);
  assert.equal(forged[0], [...byKey.get('key-0')!][0]);
});

test('maglev on a header (one tool of the server): one tenant, one replica', async () => {
  const tenants = Array.from({ length: 8 }, (_, k) => `tenant-${k}`);
  const landed = await spread(
    'hashed',
    80,
    'whoami',
    () => ({}),
    (i) => ({ 'x-tenant': tenants[i % tenants.length]! }),
  );
  const byTenant = new Map<string, Set<string>>();
  landed.forEach((id, i) => {
    const t = tenants[i % tenants.length]!;
    byTenant.set(t, (byTenant.get(t) ?? new Set()).add(id));
  });
  for (const [t, ids] of byTenant) assert.equal(ids.size, 1, `${t} landed on ${[...ids].join(', ')}`);
  assert.ok(new Set(landed).size >= 2, 'eight tenants over more than one replica');
});

test('a 2025-era session through a hashed server stays on its replica whatever its arguments', async () => {
  const client = new Client({ name: 'balancing-2025', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('hashed'))));
  try {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const r = (await client.callTool({ name: 'echo', arguments: { text: `session-key-${i}` } })) as { content: { text: string }[] };
      seen.add(replicaOf(r.content[0]!.text));
    }
    assert.equal(seen.size, 1, `one session's calls landed on ${[...seen].join(', ')}`);
  } finally {
    await client.close();
  }
});

test('a strategy set through the admin API is checked by the policy schema and reaches Envoy', async () => {
  const api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry, token: 't0ken' });
  try {
    const put = (payload: object) =>
      api.inject({ method: 'PUT', url: '/api/v1/servers/lr/policy', headers: { authorization: 'Bearer t0ken' }, payload });
    const bad = await put({ loadBalancing: { strategy: 'maglev' } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.details[0], /policy\.loadBalancing\.hashOn: maglev needs hashOn/);
    const ok = await put({ loadBalancing: { strategy: 'round-robin', slowStart: { window: '20s' } } });
    assert.equal(ok.statusCode, 202);
    await until(
      async () => {
        const c = (await clustersByName()).get('mcp_lr');
        return c !== undefined && lbPolicyName(c) === 'envoy.load_balancing_policies.round_robin';
      },
      'mcp_lr round-robin in Envoy',
      15_000,
    );
    const server = (await api.inject({ url: '/api/v1/servers' })).json().servers.find((x: { name: string }) => x.name === 'lr');
    assert.deepEqual(server.effectivePolicy.policy.loadBalancing, {
      strategy: 'round-robin',
      slowStart: { windowMs: 20_000, aggression: 1, minWeightPercent: 10 },
    });
  } finally {
    await api.close();
  }
});
