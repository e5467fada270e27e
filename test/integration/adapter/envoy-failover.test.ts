// Shows 3 and 4 through the real mesh: two adapter replicas (each its own
// `mcpmesh adapter` process) behind the control plane and a real Envoy, with
// the control plane's own retry policies. A server process killed mid-call,
// and a replica stopped with SIGTERM under load: no call fails.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clusterName } from '../../../control-plane/envoy/clusters.js';
import { type AdapterProcess, groupAlive, startAdapterProcess } from '../../support/adapter-fixture.js';
import { clusterHostStatus, type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

let replicas: AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  replicas = await Promise.all([startAdapterProcess('fixture', 1), startAdapterProcess('fixture', 1)]);
  mesh = await startMesh({
    config: {
      servers: [
        {
          name: 'fixture',
          replicas: replicas.map((r) => r.url),
          policy: { healthCheck: { path: '/readyz', interval: '250ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 } },
        },
      ],
    },
  });
});
after(async () => {
  await mesh?.stop();
  for (const r of replicas) r.child.kill('SIGKILL');
});

type Outcome = { ok: true; text: string } | { ok: false; detail: string };

let nextId = 1;
async function call(url: string, name: string, args: Record<string, unknown>): Promise<Outcome> {
  try {
    const res = await postToolCall(url, name, args, { id: nextId++ });
    const text = await res.text();
    return res.status === 200 && !text.includes('"error"') && !text.includes('"isError":true')
      ? { ok: true, text }
      : { ok: false, detail: `${res.status} ${text.slice(0, 200)}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

/** Workers calling `slow` through Envoy until stopped; bounded in count and time. */
function load(url: string, ms: number): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const deadline = performance.now() + 20_000;
  const workers = Array.from({ length: 6 }, async () => {
    while (!stopped && outcomes.length < 5_000 && performance.now() < deadline) outcomes.push(await call(url, 'slow', { ms }));
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

/**
 * Both replicas in rotation again. Calls failed by a killed process eject its
 * replica for the outlier policy's base ejection time; each scenario starts
 * from a whole mesh, as a real second fault would only after recovery.
 */
async function bothInRotation(): Promise<void> {
  await until(
    async () => {
      const hosts = await clusterHostStatus(mesh.adminUrl, clusterName('fixture'));
      return hosts.length === 2 && hosts.every((h) => h.healthy);
    },
    'both replicas healthy and not ejected',
    20_000,
  );
}

async function serverPid(replica: AdapterProcess): Promise<number> {
  const r = await call(replica.url, 'slow', { ms: 0 });
  assert.ok(r.ok);
  return Number(/ in (\d+)/.exec(r.text)![1]);
}

test('Envoy routes to both adapter replicas', async () => {
  const url = mesh.agentUrl('fixture');
  await until(async () => (await call(url, 'slow', { ms: 0 })).ok, 'the mesh serving', 20_000);
  const pids = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const r = await call(url, 'slow', { ms: 0 });
    assert.ok(r.ok, r.ok ? '' : r.detail);
    pids.add(/ in (\d+)/.exec(r.text)![1]!);
  }
  assert.equal(pids.size, 2);
});

test('a server process killed mid-call: the calls on it are retried on the other replica, none fails', async () => {
  const url = mesh.agentUrl('fixture');
  await bothInRotation();
  const victim = await serverPid(replicas[0]!);
  const running = load(url, 200);
  await new Promise((r) => setTimeout(r, 500));
  process.kill(victim, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 1_000));
  const outcomes = await running.stop();
  const failures = outcomes.filter((o) => !o.ok);
  assert.deepEqual(failures, []);
  assert.ok(outcomes.length > 20, `${outcomes.length} calls`);
  await until(async () => (await call(replicas[0]!.url, 'slow', { ms: 0 })).ok, 'the killed process restarted', 10_000);
  assert.notEqual(await serverPid(replicas[0]!), victim);
});

test('SIGTERM of a replica under load: no call fails, and it leaves no process behind', async () => {
  const url = mesh.agentUrl('fixture');
  const leaving = replicas[1]!;
  await bothInRotation();
  const pid = await serverPid(leaving);
  const running = load(url, 150);
  await new Promise((r) => setTimeout(r, 500));
  leaving.child.kill('SIGTERM');
  assert.equal(await leaving.exited, 0, leaving.stderr());
  await new Promise((r) => setTimeout(r, 500));
  const outcomes = await running.stop();
  assert.deepEqual(
    outcomes.filter((o) => !o.ok),
    [],
  );
  assert.equal(groupAlive(pid), false);
});
