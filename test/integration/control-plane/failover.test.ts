// One of three replicas killed under a steady stream of idempotent calls: no
// call fails, the replica is ejected, and traffic returns when it comes back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

const upstreams: McpUpstream[] = [];
let mesh: Mesh;

before(async () => {
  for (const id of ['f1', 'f2', 'f3']) upstreams.push(await startMcpUpstream({ id }));
  mesh = await startMesh({ config: { servers: [{ name: 'tools', replicas: upstreams.map((u) => u.url) }] } });
});
after(async () => {
  await mesh?.stop();
  for (const u of upstreams) await u.close();
});

/** One stateless 2026-07-28 tools/call of the read-only echo tool, as raw HTTP. */
async function echo(url: string, i: number): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await postToolCall(url, 'echo', { text: `m${i}` }, { id: i });
    const text = await res.text();
    return { ok: res.status === 200 && text.includes(`m${i}`) && !text.includes('"error"'), detail: `${res.status} ${text.slice(0, 200)}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

test('a killed replica costs no call, is ejected, and gets traffic back when it returns', async () => {
  const url = mesh.agentUrl('tools');
  await until(async () => (await echo(url, 0)).ok, 'mesh serving');
  const failures: string[] = [];
  let sent = 0;
  let stop = false;
  // Four workers of back-to-back calls, bounded in count and time.
  const deadline = performance.now() + 30_000;
  const workers = Array.from({ length: 4 }, async () => {
    while (!stop && sent < 20_000 && performance.now() < deadline) {
      const i = ++sent;
      const r = await echo(url, i);
      if (!r.ok) failures.push(r.detail);
    }
  });
  await new Promise((r) => setTimeout(r, 1_000));
  const victim = upstreams[0]!;
  const victimAddress = `127.0.0.1:${victim.port}`;
  await victim.close();
  await until(
    async () => (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).find((h) => h.address === victimAddress)?.ejected === true,
    'victim ejected',
    10_000,
  );
  await new Promise((r) => setTimeout(r, 1_000));
  // Back on the same port.
  upstreams[0] = await startMcpUpstream({ id: 'f1', port: victim.port });
  const before = (await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).find((h) => h.address === victimAddress)!.rqTotal;
  await until(
    async () =>
      ((await clusterHostStatus(mesh.adminUrl, 'mcp_tools')).find((h) => h.address === victimAddress)?.rqTotal ?? 0) > before + 20,
    'traffic back on the returned replica',
    20_000,
  );
  stop = true;
  await Promise.all(workers);
  assert.ok(sent > 200, `a steady stream was sent (${sent})`);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} calls failed`);
});
