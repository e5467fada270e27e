// A stdio server writing one large valid line, through the real mesh: three
// adapter replicas (each its own `mcpmesh adapter` process, the default
// --max-line-bytes) behind the control plane and a real Envoy. The 48 MiB
// answer reaches the client whole; the replica that carried it grows its
// resident set by well under three times the line (the line is kept once, as
// bytes, and passed on in slices of them; before, a 50 MB line took the
// adapter from 65 to 411 MB); no process dies, and another client's calls go
// on without a failure while the fleet stays healthy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { AdapterProcess } from '../../support/adapter-fixture.js';
import type { Mesh } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { assertFleetHealthy, fleetMetric, type ReplicaFleet, startReplicaFleet } from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const MIB = 1024 * 1024;
const ANSWER_MIB = 48;

let fleet: ReplicaFleet;
let replicas: readonly AdapterProcess[] = [];
let mesh: Mesh;

function callBody(tool: string, args: Record<string, unknown>, id = 1): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args, _meta: META } });
}

function call(tool: string, args: Record<string, unknown>, id = 1) {
  return rawPost(mesh.agentUrl('fixture'), callBody(tool, args, id), { headers: modernHeaders('tools/call', tool), timeoutMs: 60_000 });
}

/** The resident set of a replica's own process (the adapter; its stdio server is a process of its own). */
function residentBytes(r: AdapterProcess): number {
  const status = readFileSync(`/proc/${r.child.pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(kb, 'VmRSS in /proc/<pid>/status');
  return Number(kb[1]) * 1024;
}

before(async () => {
  fleet = await startReplicaFleet({ pool: 1 });
  ({ replicas, mesh } = fleet);
  await until(async () => (await call('echo', { text: 'up' }).catch(() => ({ status: 0 }))).status === 200, 'the mesh serving', 20_000);
  await until(
    async () => (await fetch(`${mesh.adminUrl}/config_dump`).then((r) => r.text())).includes('fixture/tool/big'),
    'tool routes',
    20_000,
  );
});
after(async () => {
  await fleet?.stop();
});

test(`a valid ${ANSWER_MIB} MiB line arrives whole through Envoy; its replica grows by under 3x the line; nothing else notices`, async (t) => {
  await assertFleetHealthy(mesh);
  // Another client calling all along; bounded in count and time.
  const failures: string[] = [];
  let stopped = false;
  const deadline = performance.now() + 60_000;
  const other = (async () => {
    for (let n = 1; !stopped && n < 5_000 && performance.now() < deadline; n++) {
      const a = await call('echo', { text: `other ${n}` }, n).catch((err: Error) => ({ status: 0, text: err.message }));
      if (a.status !== 200 || !a.text.includes(`echo: other ${n}`)) failures.push(`${a.status} ${a.text.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  // Each replica's resident set, sampled while the answer is carried (bounded by the call's own timeout).
  const base = replicas.map(residentBytes);
  const peak = [...base];
  const sampler = setInterval(() => {
    for (const [i, r] of replicas.entries()) peak[i] = Math.max(peak[i]!, residentBytes(r));
  }, 5);
  let answer: Awaited<ReturnType<typeof call>>;
  try {
    answer = await call('big', { kb: ANSWER_MIB * 1024 });
  } finally {
    clearInterval(sampler);
  }
  assert.equal(answer.status, 200, answer.text.slice(0, 200));
  const parsed = JSON.parse(answer.text) as { id: number; result: { content: Array<{ text: string }>; resultType: string } };
  assert.equal(parsed.id, 1);
  assert.equal(parsed.result.resultType, 'complete');
  assert.equal(parsed.result.content[0]!.text.length, ANSWER_MIB * MIB);
  const growth = Math.max(...peak.map((p, i) => p - base[i]!));
  t.diagnostic(`peak growth of the carrying replica: ${(growth / MIB).toFixed(0)} MiB`);
  assert.ok(growth < 3 * ANSWER_MIB * MIB, `the carrying replica grew by ${(growth / MIB).toFixed(0)} MiB for a ${ANSWER_MIB} MiB line`);
  stopped = true;
  await other;
  assert.deepEqual(failures, []);
  assert.equal(await fleetMetric(replicas, 'mcpmesh_adapter_pool_processes', 'state="ready"'), 3, 'no process died');
  await assertFleetHealthy(mesh);
});
