// Two real Consul datacenters, WAN-joined on loopback, read by one control
// plane; a real Envoy in dc1, zone a. Calls stay in Envoy's zone; when it
// dies, dc1's other zone takes what dc1 keeps and dc2 the share dc1 lost; when
// every replica of dc1 is dead, dc2 takes every call; and they come back when
// dc1 does, with no failed call.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ConsulAgent, registerService, startConsul } from '../../support/consul.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, configDump, type Mesh, startMesh } from '../../support/mesh.js';
import { modernToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

let dc1: ConsulAgent;
let dc2: ConsulAgent;
let mesh: Mesh;
/** dc1 zone a, dc1 zone b, dc2 zone a. */
const upstreams: McpUpstream[] = [];
const IDS = ['dc1a', 'dc1b', 'dc2a'] as const;

before(async () => {
  dc1 = await startConsul({ datacenter: 'dc1' });
  dc2 = await startConsul({ datacenter: 'dc2', joinWan: dc1.serfWanPort! });
  await until(
    async () => ((await dc1.api('GET', '/v1/catalog/datacenters')) as string[]).includes('dc2'),
    'dc1 and dc2 WAN-joined',
    30_000,
    200,
  );
  for (const id of IDS) upstreams.push(await startMcpUpstream({ id }));
  const zones = ['a', 'b', 'a'];
  for (const [i, u] of upstreams.entries()) {
    await registerService(i < 2 ? dc1 : dc2, {
      name: 'tools',
      id: `tools-${IDS[i]}`,
      port: u.port,
      meta: { mcp_zone: zones[i]! },
      httpCheck: `http://127.0.0.1:${u.port}/healthz`,
    });
  }
  mesh = await startMesh({
    consulUrl: dc1.url,
    consulDatacenters: ['dc1', 'dc2'],
    envoyLocality: { datacenter: 'dc1', zone: 'a' },
    ...(process.env['MCPMESH_TEST_ACCESS_LOG'] ? { observability: { accessLog: { path: process.env['MCPMESH_TEST_ACCESS_LOG'] } } } : {}),
  });
});
after(async () => {
  await mesh?.stop();
  for (const u of upstreams) await u.close();
  await dc2?.stop();
  await dc1?.stop();
});

test('zone first, then the other zone and the other datacenter, then only dc2, and back, with no failed call', async () => {
  const url = mesh.agentUrl('tools');
  // Every replica known to Envoy and healthy (dc2's arrive over the WAN; Consul's HTTP checks start critical).
  await until(
    async () => {
      const hosts = await clusterHostStatus(mesh.adminUrl, 'mcp_tools');
      return hosts.length === 3 && hosts.every((h) => h.healthy);
    },
    'three healthy replicas in mcp_tools',
    30_000,
    100,
  );
  await until(async () => (await modernToolCall(url, 0, 'echo', { text: 'up' })).ok, 'mesh serving', 15_000);
  // Envoy holds one locality per datacenter and zone, dc2 a priority after dc1.
  const eds = (await configDump(mesh.adminUrl)).find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump');
  const cla = ((eds?.['dynamic_endpoint_configs'] as Record<string, any>[] | undefined) ?? [])
    .map((e) => e['endpoint_config'])
    .find((e) => e['cluster_name'] === 'mcp_tools');
  assert.deepEqual(
    (cla['endpoints'] as Record<string, any>[]).map((e) => [e['locality'].region, e['locality'].zone, e['priority'] ?? 0]),
    [
      ['dc1', 'a', 0],
      ['dc1', 'b', 0],
      ['dc2', 'a', 1],
    ],
  );

  const landed: { at: number; id: string }[] = [];
  const failures: string[] = [];
  let sent = 0;
  let stop = false;
  let phase = 'all up';
  const deadline = performance.now() + 90_000;
  const workers = Array.from({ length: 4 }, async () => {
    while (!stop && sent < 30_000 && performance.now() < deadline) {
      const i = ++sent;
      const r = await modernToolCall(url, i, 'echo', { text: `m${i}` });
      if (!r.ok) failures.push(`${phase}: ${r.detail}`);
      else landed.push({ at: performance.now(), id: /\(from (\w+)\)$/.exec(r.text)?.[1] ?? '?' });
    }
  });
  /** Where the calls of the last `ms` landed. */
  const recent = (ms: number) => {
    const since = performance.now() - ms;
    const c = new Map<string, number>();
    for (const l of landed) if (l.at >= since) c.set(l.id, (c.get(l.id) ?? 0) + 1);
    return c;
  };
  const only = (id: string) => async () => {
    const c = recent(1_000);
    const total = [...c.values()].reduce((a, b) => a + b, 0);
    return total >= 10 && c.get(id) === total;
  };
  /**
   * Half of dc1 is dead: what dc1 keeps goes to its other zone, and Envoy
   * spills the rest to dc2 (priority load: 1.4 x 50% healthy = 70% stays).
   */
  const halfOfDc1 = async () => {
    const c = recent(1_000);
    const total = [...c.values()].reduce((a, b) => a + b, 0);
    const b = c.get('dc1b') ?? 0;
    const spill = c.get('dc2a') ?? 0;
    return total >= 20 && c.get('dc1a') === undefined && b + spill === total && b > 0.5 * total && spill > 0.1 * total;
  };
  try {
    await until(only('dc1a'), "every call in Envoy's own zone (dc1, a)", 15_000, 100);
    phase = 'dc1 zone a killed';
    await upstreams[0]!.close();
    await until(halfOfDc1, 'the other zone of dc1 with 70% of the calls, dc2 with the rest', 20_000, 100);
    phase = 'dc1 zone b killed';
    await upstreams[1]!.close();
    await until(only('dc2a'), 'every call in dc2', 20_000, 100);
    // dc1 comes back on the same ports; its checks pass again.
    phase = 'dc1 back';
    upstreams[0] = await startMcpUpstream({ id: 'dc1a', port: upstreams[0]!.port });
    upstreams[1] = await startMcpUpstream({ id: 'dc1b', port: upstreams[1]!.port });
    await until(only('dc1a'), 'every call back in dc1, zone a', 40_000, 100);
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  assert.ok(sent > 200, `a steady stream was sent (${sent})`);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${sent} calls failed: ${failures.slice(0, 5).join(' | ')}`);
});
