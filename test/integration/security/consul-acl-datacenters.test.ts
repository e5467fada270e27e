// ACLs across two WAN-joined Consul datacenters: dc1 is the primary, dc2
// replicates its policies and tokens. The control plane's documented token,
// created once in dc1, reads both datacenters through dc1's agent.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type ConsulAgent, createAclToken, registerService, startConsul } from '../../support/consul.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, dynamicClusters, type Mesh, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const MANAGEMENT = 'a11c0de5-0000-4000-8000-00000000d1d2';
let dc1: ConsulAgent;
let dc2: ConsulAgent;
let mesh: Mesh | undefined;
const upstreams: McpUpstream[] = [];

function controlPlanePolicy(): string {
  const doc = readFileSync(new URL('../../../../docs/security.md', import.meta.url), 'utf8');
  const block = [...doc.matchAll(/```hcl\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith('# mcpmesh control plane'));
  assert.ok(block, 'docs/security.md has the control plane policy');
  return block;
}

before(async () => {
  const acl = { managementToken: MANAGEMENT, primaryDatacenter: 'dc1' };
  dc1 = await startConsul({ datacenter: 'dc1', acl });
  dc2 = await startConsul({ datacenter: 'dc2', joinWan: dc1.serfWanPort!, acl });
  await until(async () => ((await dc1.api('GET', '/v1/catalog/datacenters')) as string[]).includes('dc2'), 'WAN-joined', 30_000, 200);
  for (const id of ['acl1', 'acl2']) upstreams.push(await startMcpUpstream({ id }));
  await registerService(dc1, { name: 'tools', id: 'tools-1', port: upstreams[0]!.port });
  // dc2 knows the management token once it resolves it through the primary.
  await until(
    async () => {
      try {
        await registerService(dc2, { name: 'tools', id: 'tools-2', port: upstreams[1]!.port });
        return true;
      } catch {
        return false;
      }
    },
    'dc2 accepting the replicated management token',
    30_000,
    250,
  );
});
after(async () => {
  await mesh?.stop();
  for (const u of upstreams) await u.close();
  await dc2?.stop();
  await dc1?.stop();
});

test("the control plane's token, made in the primary, reads the replicas of both datacenters and the policies in KV", async () => {
  const token = await createAclToken(dc1, 'mcpmesh-control-plane', controlPlanePolicy());
  mesh = await startMesh({ consulUrl: dc1.url, consulToken: token, consulDatacenters: ['dc1', 'dc2'] });
  await until(
    async () => {
      const hosts = await clusterHostStatus(mesh!.adminUrl, 'mcp_tools');
      return hosts.length === 2 && hosts.every((h) => h.healthy);
    },
    'both replicas in Envoy',
    30_000,
    100,
  );
  // The token lacks nothing in either datacenter: the source is not stale.
  await until(() => !mesh!.cp.source().stale, 'the source not stale', 20_000, 100);
  assert.equal(mesh.cp.source().lastError, undefined);
  // A strategy from KV (the local datacenter's) reaches Envoy.
  await dc1.api('PUT', '/v1/kv/mcpmesh/policy/tools', { loadBalancing: { strategy: 'round-robin' } });
  await until(
    async () => {
      const c = (await dynamicClusters(mesh!.adminUrl)).find((x) => x['name'] === 'mcp_tools');
      const lb = c?.['load_balancing_policy'] as { policies: { typed_extension_config: { name: string } }[] } | undefined;
      return lb?.policies[0]?.typed_extension_config.name === 'envoy.load_balancing_policies.round_robin';
    },
    "the KV policy's round-robin in Envoy",
    20_000,
    100,
  );
});
