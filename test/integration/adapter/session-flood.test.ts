// A flood of `initialize` without follow-up through the real mesh: three
// adapter replicas (each its own `mcpmesh adapter --trusted-proxies 127.0.0.1`
// process) behind the control plane and a real Envoy, whose listener appends
// each agent's address to X-Forwarded-For. The flooding client (its own
// loopback address, 127.0.0.2) gets at most its per-client limit of sessions
// from each replica, then a 429 that Envoy neither retries nor counts against
// the replica; a forged X-Forwarded-For does not make it someone else. Another
// client (127.0.0.1) opens sessions and calls all along without a failure, the
// fleet stays healthy, and the half-open sessions expire after the init
// timeout, which frees the limit.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { clusterName } from '../../../control-plane/envoy/clusters.js';
import type { AdapterProcess } from '../../support/adapter-fixture.js';
import { type Mesh, statValue } from '../../support/mesh.js';
import { type RawAnswer, rawPost } from '../../support/raw-post.js';
import {
  assertFleetHealthy,
  fleetMetric as fleetSum,
  perReplica as perReplicaOf,
  type ReplicaFleet,
  startReplicaFleet,
} from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const PER_CLIENT = 40;
const INIT_TIMEOUT_MS = 4_000;
/** The flood: bounded in count (and so in time: well under a second on loopback). */
const FLOOD = 400;
const FLOOD_CONCURRENCY = 16;
const FLOOD_ADDRESS = '127.0.0.2';

let fleet: ReplicaFleet;
let replicas: readonly AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  const args = [
    '--trusted-proxies',
    '127.0.0.1',
    '--max-sessions-per-client',
    String(PER_CLIENT),
    '--session-init-timeout',
    `${INIT_TIMEOUT_MS}ms`,
  ];
  fleet = await startReplicaFleet({ pool: 2, args });
  ({ replicas, mesh } = fleet);
  await until(async () => (await initialize('127.0.0.1').catch(() => ({ status: 0 }))).status === 200, 'the mesh serving', 20_000);
  // That probe's session is pending; let it expire so that the counts below start at zero.
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_sessions_pending', '')) === 0,
    'the probe session expired',
    INIT_TIMEOUT_MS * 3,
  );
});
after(async () => {
  await fleet?.stop();
});

type Answer = RawAnswer;

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** One POST through Envoy from `localAddress`. */
function post(localAddress: string, headers: Record<string, string>, body: string, agent?: http.Agent): Promise<Answer> {
  return rawPost(mesh.agentUrl('fixture'), body, {
    headers: { ...JSON_HEADERS, ...headers },
    localAddress,
    ...(agent !== undefined ? { agent } : {}),
    timeoutMs: 10_000,
  });
}

function initialize(localAddress: string, extra: Record<string, string> = {}, agent?: http.Agent): Promise<Answer> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'flood', version: '1' } },
  });
  return post(localAddress, extra, body, agent);
}

/** Sum over the replicas of a metric's samples whose labels include `labels`. */
function fleetMetric(name: string, labels: string): Promise<number> {
  return fleetSum(replicas, name, labels);
}

function perReplica(name: string, labels: string): Promise<number[]> {
  return perReplicaOf(replicas, name, labels);
}

/** Initializes seen by each replica: sessions issued and initializes refused. */
async function initializesPerReplica(): Promise<number[]> {
  const ok = await perReplica('mcpmesh_adapter_calls_total', 'method="initialize"');
  const refused = await perReplica('mcpmesh_adapter_initialize_refused_total', '');
  return ok.map((n, i) => n + refused[i]!);
}

/** Another client all along: a new 2025-era session (initialize, initialized), a call in it, DELETE; bounded in count and time. */
function otherClient(): { stop(): Promise<{ failures: string[]; sessions: number }> } {
  const failures: string[] = [];
  let stopped = false;
  let sessions = 0;
  const deadline = performance.now() + 60_000;
  const loop = (async () => {
    while (!stopped && sessions < 2_000 && performance.now() < deadline) {
      sessions++;
      try {
        const init = await initialize('127.0.0.1');
        const sid = init.headers['mcp-session-id'];
        if (init.status !== 200 || typeof sid !== 'string') {
          failures.push(`initialize: ${init.status} ${init.text.slice(0, 200)}`);
          continue;
        }
        const inSession = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
        const ack = await post('127.0.0.1', inSession, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
        if (ack.status !== 202) failures.push(`initialized: ${ack.status} ${ack.text.slice(0, 200)}`);
        const call = await post(
          '127.0.0.1',
          inSession,
          JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: { name: 'echo', arguments: { text: `other ${sessions}` } },
          }),
        );
        if (call.status !== 200 || !call.text.includes(`echo: other ${sessions}`))
          failures.push(`call: ${call.status} ${call.text.slice(0, 200)}`);
        const url = new URL(mesh.agentUrl('fixture'));
        const end = await fetch(url, { method: 'DELETE', headers: inSession });
        await end.text();
        if (end.status !== 200) failures.push(`DELETE: ${end.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { failures, sessions };
    },
  };
}

function fleetHealthy(): Promise<void> {
  return assertFleetHealthy(mesh);
}

test('a flood of initialize without follow-up: the client gets its limit per replica, then 429, never retried; another client goes on; the fleet stays healthy; the half-open sessions expire', async () => {
  await fleetHealthy();
  const seenBefore = await initializesPerReplica();
  const retriesBefore = await statValue(mesh.adminUrl, `cluster.${clusterName('fixture')}.upstream_rq_retry`);
  const ejectionsBefore = await statValue(mesh.adminUrl, `cluster.${clusterName('fixture')}.outlier_detection.ejections_total`);
  const other = otherClient();

  // The flood, with a forged X-Forwarded-For on every request: Envoy appends the real source after it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: FLOOD_CONCURRENCY });
  const answers: Answer[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: FLOOD_CONCURRENCY }, async () => {
      while (next < FLOOD) {
        const i = next++;
        answers.push(await initialize(FLOOD_ADDRESS, { 'x-forwarded-for': `10.${(i >> 8) & 255}.${i & 255}.1` }, agent));
      }
    }),
  );
  const floodMs = performance.now() - started;
  agent.destroy();
  assert.ok(
    floodMs < INIT_TIMEOUT_MS,
    `the flood took ${floodMs.toFixed(0)} ms, not within the init timeout: the counts below would include expiries`,
  );

  const byStatus = new Map<number, number>();
  for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  assert.deepEqual([...byStatus.keys()].sort(), [200, 429], `statuses: ${JSON.stringify([...byStatus])}`);
  const issued = byStatus.get(200)!;
  assert.ok(issued <= 3 * PER_CLIENT, `${issued} sessions issued to one client; at most ${PER_CLIENT} per replica`);
  const refusal = answers.find((a) => a.status === 429)!;
  assert.equal(refusal.headers['x-mcpmesh-retryable'], undefined, 'not retryable');
  assert.match(String(refusal.headers['retry-after']), /^[1-9]\d*$/);
  const body = JSON.parse(refusal.text) as {
    jsonrpc: string;
    id: number;
    error: { code: number; message: string; data: { reason: string; limit: number } };
  };
  assert.deepEqual(
    [body.jsonrpc, body.id, body.error.code, body.error.data.reason, body.error.data.limit],
    ['2.0', 0, -32000, 'client_limit', PER_CLIENT],
  );
  assert.match(
    body.error.message,
    /^Too many sessions: this client has \d+ sessions open on this replica, the most --max-sessions-per-client allows\. A session that never sends notifications\/initialized expires after 4 s/,
  );

  // Each initialize reached exactly one replica: the other client's, the flood's, no retry.
  const { failures, sessions } = await other.stop();
  assert.deepEqual(failures, [], 'the other client never failed');
  assert.ok(sessions >= 1);
  const seen = (await initializesPerReplica()).map((n, i) => n - seenBefore[i]!);
  assert.equal(
    seen.reduce((a, b) => a + b, 0),
    FLOOD + sessions,
    `initializes seen per replica ${JSON.stringify(seen)}: the flood's ${FLOOD} and the other client's ${sessions}, each once`,
  );
  assert.equal(
    await statValue(mesh.adminUrl, `cluster.${clusterName('fixture')}.upstream_rq_retry`),
    retriesBefore,
    'Envoy retried nothing',
  );
  const refusedPerReplica = await perReplica('mcpmesh_adapter_initialize_refused_total', 'reason="client_limit"');
  assert.equal(
    refusedPerReplica.reduce((a, b) => a + b, 0),
    FLOOD - issued,
  );
  // Every replica that refused the flood had given it its limit, and no more.
  const pending = await perReplica('mcpmesh_adapter_sessions_pending', '');
  for (let i = 0; i < 3; i++) {
    assert.ok(pending[i]! <= PER_CLIENT, `replica ${i}: ${pending[i]} pending`);
    if (refusedPerReplica[i]! > 0) assert.equal(pending[i], PER_CLIENT, `replica ${i} refused before its limit`);
  }
  assert.equal(
    pending.reduce((a, b) => a + b, 0),
    issued,
    'the flood sessions are the pending ones (the other client followed up on its own)',
  );

  await fleetHealthy();
  assert.equal(
    await statValue(mesh.adminUrl, `cluster.${clusterName('fixture')}.outlier_detection.ejections_total`),
    ejectionsBefore,
    'no ejection',
  );

  // The half-open sessions expire after the init timeout (plus a sweep), and the flooding client may open one again.
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_sessions_pending', '')) === 0,
    'the half-open sessions expired',
    INIT_TIMEOUT_MS + 2_000,
  );
  assert.equal(await fleetMetric('mcpmesh_adapter_sessions_expired_total', ''), issued + 1, 'the flood sessions, and the probe before');
  assert.equal(await fleetMetric('mcpmesh_adapter_sessions', ''), 0, "nothing left open: the other client's sessions were DELETEd");
  const again = await initialize(FLOOD_ADDRESS);
  assert.equal(again.status, 200, again.text);
});
