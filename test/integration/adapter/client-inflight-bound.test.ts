// The per-client bound on calls in flight, behind the real mesh: three adapter
// replicas (each its own `mcpmesh adapter --trusted-proxies 127.0.0.1`
// process, one process of 3 slots, at most 2 of them for one client) behind
// the control plane and a real Envoy, whose listener appends each agent's
// address to X-Forwarded-For. One agent (127.0.0.2) fills the fleet with slow
// calls; another (127.0.0.3) is a client of its own on every replica, so its
// calls find the slot the first one may not take and are answered at once. Had
// the adapters counted Envoy's address, both agents would be one client and the
// second one's calls would wait behind the first one's. A forged
// X-Forwarded-For naming the second agent does not make the first one it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AdapterProcess } from '../../support/adapter-fixture.js';
import type { Mesh } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { fleetMetric as fleetSum, type ReplicaFleet, startReplicaFleet } from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const SLOTS = 3;
const PER_CLIENT = 2;
const SLOW_MS = 2_500;
const FLOODER = '127.0.0.2';
const OTHER = '127.0.0.3';

let fleet: ReplicaFleet;
let replicas: readonly AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  const args = [
    '--trusted-proxies',
    '127.0.0.1',
    '--max-inflight',
    String(SLOTS),
    '--max-inflight-per-client',
    String(PER_CLIENT),
    '--max-inflight-per-connection',
    '64',
  ];
  fleet = await startReplicaFleet({ pool: 1, args, healthCheck: false });
  ({ replicas, mesh } = fleet);
  await until(
    async () => (await call(OTHER, 'echo', { text: 'up' }).catch(() => ({ status: 0 }))).status === 200,
    'the mesh serving',
    20_000,
  );
});
after(async () => {
  await fleet?.stop();
});

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

let nextId = 1;

/** One 2026-07-28 tools/call through Envoy from `localAddress`. */
function call(localAddress: string, tool: string, args: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Answer> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: tool, arguments: args, _meta: META } });
  return rawPost(mesh.agentUrl('fixture'), body, {
    headers: { ...modernHeaders('tools/call', tool), ...extra },
    localAddress,
    timeoutMs: 30_000,
  });
}

function fleetMetric(name: string): Promise<number> {
  return fleetSum(replicas, name);
}

test('one agent filling the fleet leaves the other agent its own slots: its calls are answered at once', async () => {
  // Four calls per replica, whatever Envoy's spread: the flooder holds its two slots everywhere, more wait.
  const flood = 4 * replicas.length;
  const slow = Array.from({ length: flood }, (_, i) =>
    // The forged header names the other agent: Envoy appends the flooder's own address after it.
    call(FLOODER, 'slow', { ms: SLOW_MS, text: String(i) }, { 'x-forwarded-for': OTHER }),
  );
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_calls_in_flight')) + (await fleetMetric('mcpmesh_adapter_queue_depth')) === flood,
    'every slow call on a process or queued',
    5_000,
  );
  assert.ok((await fleetMetric('mcpmesh_adapter_queue_depth')) > 0, 'the flooder is at its bound: some of its calls wait');
  for (let i = 0; i < 6; i++) {
    const a = await call(OTHER, 'echo', { text: `other ${i}` });
    assert.equal(a.status, 200, a.text);
    assert.match(a.text, new RegExp(`echo: other ${i}`));
    assert.ok(a.ms < SLOW_MS / 2, `the other agent waited ${Math.round(a.ms)} ms behind the flooder`);
  }
  const answers = await Promise.all(slow);
  for (const a of answers) assert.equal(a.status, 200, a.text);
});
