// Slow start through a real Envoy: a replica added to a round-robin server
// with an 8 s slow-start window gets a small share of the calls at first, and
// its full third by the end of the window. The first two replicas are in slow
// start too for their first 8 s (Envoy ramps every host it adds), so the third
// comes only after they are past it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, type Mesh, startMesh } from '../../support/mesh.js';
import { modernToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

const upstreams: McpUpstream[] = [];
let mesh: Mesh;
const WINDOW_MS = 8_000;
const policy = { loadBalancing: { strategy: 'round-robin', slowStart: { window: '8s', minWeightPercent: 5 } } };
/** A server whose replicas are health-checked: one that fails its check and passes it again ramps up too. */
const checked = () => ({
  name: 'back',
  replicas: [upstreams[0]!.url, upstreams[1]!.url, upstreams[3]!.url],
  policy: { ...policy, healthCheck: { path: '/healthz', interval: '500ms', timeout: '250ms', unhealthyThreshold: 2, healthyThreshold: 1 } },
});
const config = (n: number) => ({ servers: [{ name: 'ramp', replicas: upstreams.slice(0, n).map((u) => u.url), policy }, checked()] });

before(async () => {
  for (const id of ['s1', 's2', 's3', 's4']) upstreams.push(await startMcpUpstream({ id }));
  mesh = await startMesh({ config: config(2) });
});
after(async () => {
  await mesh?.stop();
  for (const u of upstreams) await u.close();
});

test('a new replica ramps up over the slow-start window', async (t) => {
  const url = mesh.agentUrl('ramp');
  await until(async () => (await modernToolCall(url, 0, 'whoami', {})).ok, 'mesh serving', 15_000);
  const newcomer = `127.0.0.1:${upstreams[2]!.port}`;
  await new Promise((r) => setTimeout(r, WINDOW_MS + 1_000));
  mesh.writeConfig(config(3));
  await until(
    async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_ramp')).some((h) => h.address === newcomer),
    'the third replica in Envoy',
    10_000,
  );
  // The newcomer's share in 2 s windows since it was added.
  const { shares, calls } = await sharesOver(url, 's3');
  const shown = shares.map((s) => s.toFixed(2)).join(' ');
  t.diagnostic(`the new replica's share per 2 s since it was added: ${shown}`);
  assert.ok(calls > 200, `enough calls to measure (${calls})`);
  assert.ok(shares[0]! < 0.15, `a small share in the first 2 s (shares per 2 s: ${shown})`);
  assert.ok(shares.at(-1)! > 0.27, `about a third after the window (shares per 2 s: ${shown})`);
  // Rising: every window after the first two holds at least what the first had.
  assert.ok(
    shares.slice(2).every((s) => s > shares[0]!),
    `the share grows (shares per 2 s: ${shown})`,
  );
});

test('a health-checked replica that failed its check and passes it again ramps up too', async (t) => {
  const url = mesh.agentUrl('back');
  const address = `127.0.0.1:${upstreams[3]!.port}`;
  const host = async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_back')).find((h) => h.address === address);
  await until(async () => (await host())?.healthy === true, 'the replica healthy', 15_000);
  // Every replica is past its first window by now (the test before ran longer than it).
  await upstreams[3]!.close();
  await until(async () => (await host())?.healthy === false, 'the replica failing its health check', 10_000);
  upstreams[3] = await startMcpUpstream({ id: 's4', port: upstreams[3]!.port });
  await until(async () => (await host())?.healthy === true, 'the replica passing its health check again', 10_000);
  const { shares, calls } = await sharesOver(url, 's4');
  const shown = shares.map((s) => s.toFixed(2)).join(' ');
  t.diagnostic(`the returned replica's share per 2 s since it passed its check: ${shown}`);
  assert.ok(calls > 200, `enough calls to measure (${calls})`);
  assert.ok(shares[0]! < 0.15, `a small share in the first 2 s (shares per 2 s: ${shown})`);
  assert.ok(shares.at(-1)! > 0.27, `about a third after the window (shares per 2 s: ${shown})`);
});

/** Calls for one slow-start window and a bit from now (two workers, bounded in count too), and `id`'s share in each 2 s. */
async function sharesOver(url: string, id: string): Promise<{ shares: number[]; calls: number }> {
  const start = performance.now();
  const landed: { at: number; id: string }[] = [];
  const failures: string[] = [];
  let sent = 0;
  const workers = Array.from({ length: 2 }, async () => {
    while (performance.now() - start < WINDOW_MS + 2_000 && sent < 20_000) {
      const i = ++sent;
      const r = await modernToolCall(url, i, 'whoami', {});
      if (r.ok) landed.push({ at: performance.now() - start, id: r.text });
      else failures.push(r.detail);
    }
  });
  await Promise.all(workers);
  assert.deepEqual(failures, []);
  const shares: number[] = [];
  for (let from = 0; from < WINDOW_MS + 2_000; from += 2_000) {
    const inWindow = landed.filter((l) => l.at >= from && l.at < from + 2_000);
    shares.push(inWindow.filter((l) => l.id === id).length / Math.max(1, inWindow.length));
  }
  return { shares, calls: landed.length };
}
