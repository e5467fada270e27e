// Hostile input through the real mesh: three adapter replicas (each its own
// `mcpmesh adapter` process) behind the control plane and a real Envoy with
// its own retry policies. Each row of the hostile-input issue gets its answer
// at once, costs at most one process on one replica, and the fleet stays
// healthy (Envoy's /clusters: no ejection, no failed health check) while
// another client's calls go on without a failure.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AdapterProcess } from '../../support/adapter-fixture.js';
import type { Mesh } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import {
  assertFleetHealthy,
  fleetMetric as fleetSum,
  perReplica as perReplicaOf,
  type ReplicaFleet,
  startReplicaFleet,
} from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const MAX_LINE = 3 * 1024 * 1024;

let fleet: ReplicaFleet;
let replicas: readonly AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  fleet = await startReplicaFleet({ pool: 2, args: ['--max-line-bytes', String(MAX_LINE)] });
  ({ replicas, mesh } = fleet);
  await until(
    async () => (await post(headers('echo'), callBody('echo', { text: 'up' })).catch(() => ({ status: 0 }))).status === 200,
    'the mesh serving',
    20_000,
  );
  // Tools are learned, so `crash` and `big` have their own (safe: 5xx-retrying) routes.
  await until(
    async () => (await fetch(`${mesh.adminUrl}/config_dump`).then((r) => r.text())).includes('fixture/tool/crash'),
    'tool routes',
    20_000,
  );
});
after(async () => {
  await fleet?.stop();
});

function headers(tool: string): Record<string, string> {
  return modernHeaders('tools/call', tool);
}

function callBody(tool: string, args: Record<string, unknown>, id = 1): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args, _meta: META } });
}

interface Answer {
  readonly status: number;
  readonly retryable: string | null;
  readonly text: string;
  readonly ms: number;
}

/** One POST through Envoy with a raw body (bytes as given). */
async function post(h: Record<string, string>, body: string | Buffer): Promise<Answer> {
  const a = await rawPost(mesh.agentUrl('fixture'), body, { headers: h, timeoutMs: 30_000 });
  return { status: a.status, retryable: (a.headers['x-mcpmesh-retryable'] as string | undefined) ?? null, text: a.text, ms: a.ms };
}

/** Sum over the replicas of a metric's samples whose labels include `labels`. */
function fleetMetric(name: string, labels: string): Promise<number> {
  return fleetSum(replicas, name, labels);
}

/** Another client calling through Envoy all along; bounded in count and time. */
function otherClient(): { stop(): Promise<string[]>; paused<T>(fn: () => Promise<T>): Promise<T> } {
  const failures: string[] = [];
  let stopped = false;
  let n = 0;
  // While a test reads the fleet's in-flight count, this client's own call must not be in it.
  let pause: { resume: Promise<void>; idle: () => void } | undefined;
  const deadline = performance.now() + 120_000;
  const loop = (async () => {
    while (!stopped && n < 20_000 && performance.now() < deadline) {
      if (pause) {
        pause.idle();
        await pause.resume;
        continue;
      }
      n++;
      try {
        const a = await post(headers('echo'), callBody('echo', { text: `other ${n}` }, n));
        if (a.status !== 200 || !a.text.includes(`echo: other ${n}`)) failures.push(`${a.status} ${a.text.slice(0, 200)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return failures;
    },
    async paused(fn) {
      let resume = (): void => undefined;
      const resumed = new Promise<void>((go) => {
        resume = go;
      });
      const idle = new Promise<void>((r) => {
        pause = { resume: resumed, idle: r };
      });
      // A loop that has already ended holds no call.
      await Promise.race([idle, loop]);
      try {
        return await fn();
      } finally {
        pause = undefined;
        resume();
      }
    },
  };
}

function fleetHealthy(): Promise<void> {
  return assertFleetHealthy(mesh);
}

let other: ReturnType<typeof otherClient>;

test('the fleet is whole and another client is calling', async () => {
  await fleetHealthy();
  other = otherClient();
});

test('40,000 nested {"id":1} before the top-level id: answered in well under a second', async () => {
  const nested = Array.from({ length: 40_000 }, () => '{"id":1}').join(',');
  const body = `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"text":"deep ids","pad":[${nested}]},"_meta":${JSON.stringify(META)}}, "id": 1}`;
  assert.ok(body.length > 300_000);
  const a = await post(headers('echo'), body);
  assert.equal(a.status, 200, a.text);
  assert.match(a.text, /echo: deep ids/);
  assert.match(a.text, /"id":\s*1\b/);
  assert.ok(a.ms < 1_000, `${a.ms} ms`);
});

test('an unknown top-level member: -32600 at once, also for 128 at a time, and no process slot is held', async () => {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 9,
    method: 'tools/call',
    params: { name: 'slow', arguments: { ms: 0 }, _meta: META },
    'x-extra': 0,
  });
  const answers = await Promise.all(Array.from({ length: 128 }, () => post(headers('slow'), body)));
  for (const a of answers) {
    assert.equal(a.status, 400);
    const parsed = JSON.parse(a.text) as { id: unknown; error: { code: number; message: string } };
    assert.deepEqual([parsed.id, parsed.error.code], [9, -32600]);
    assert.match(parsed.error.message, /unknown member "x-extra"/);
  }
  // The bug held a slot for the 5-minute call timeout; a call just answered may still be counted for a moment.
  await other.paused(() =>
    until(
      async () => (await fleetMetric('mcpmesh_adapter_calls_in_flight', 'server="fixture"')) === 0,
      'no call in flight on the fleet',
      2_000,
    ),
  );
});

test('an answer over --max-line-bytes: 422 from one replica, never retried, and no process dies', async () => {
  const restarts = await fleetMetric('mcpmesh_adapter_process_restarts_total', '');
  const a = await post(headers('big'), callBody('big', { kb: 4 * 1024 }));
  assert.equal(a.status, 422, a.text);
  assert.equal(a.retryable, null);
  assert.match(JSON.parse(a.text).error.message, /query of death.*over the adapter's --max-line-bytes/);
  assert.equal(await fleetMetric('mcpmesh_adapter_calls_total', 'outcome="poisoned"'), 1, 'one replica saw it: no retry');
  assert.equal(await fleetMetric('mcpmesh_adapter_process_restarts_total', ''), restarts);
  // The same request again is refused at once on the replica that knows it, or costs one answer elsewhere.
  const b = await post(headers('big'), callBody('big', { kb: 4 * 1024 }));
  assert.equal(b.status, 422);
});

test('a call that kills its process: 422, one process on one replica, not replayed across the fleet', async () => {
  const restarts = await fleetMetric('mcpmesh_adapter_process_restarts_total', '');
  const a = await post(headers('crash'), callBody('crash', { afterMs: 30 }));
  assert.equal(a.status, 422, a.text);
  assert.equal(a.retryable, null);
  assert.match(JSON.parse(a.text).error.message, /exited with code 7.*only call in flight/);
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_process_restarts_total', '')) >= restarts + 1,
    `the one restart counted (${restarts} before): ${a.text}`,
    5_000,
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await fleetMetric('mcpmesh_adapter_process_restarts_total', ''), restarts + 1, 'exactly one process died, on one replica');
  await until(async () => (await fleetMetric('mcpmesh_adapter_pool_processes', 'state="ready"')) === 6, 'every process back', 10_000);
});

/** A metric of each replica, in the order of `replicas`. */
function perReplica(name: string, labels: string): Promise<number[]> {
  return perReplicaOf(replicas, name, labels);
}

test('a query of death sharing its process with other calls: they are answered, it gets 422, and only one replica loses processes', async () => {
  const restarts = await perReplica('mcpmesh_adapter_process_restarts_total', '');
  const poisoned = await perReplica('mcpmesh_adapter_crash_replays_total', 'result="poisoned"');
  // Enough slow calls that every process of every replica has some in flight when the killer arrives.
  const slow = Array.from({ length: 24 }, (_, i) => post(headers('slow'), callBody('slow', { ms: 700, text: `shared ${i}` }, 100 + i)));
  await until(
    async () => (await fleetMetric('mcpmesh_adapter_calls_in_flight', 'server="fixture"')) >= 24,
    'the slow calls in flight',
    5_000,
    20,
  );
  const killer = await post(headers('crash'), callBody('crash', { afterMs: 61 }, 99));
  assert.equal(killer.status, 422, killer.text);
  assert.equal(killer.retryable, null);
  assert.match(JSON.parse(killer.text).error.message, /query of death/);
  const answers = await Promise.all(slow);
  answers.forEach((a, i) => {
    assert.equal(a.status, 200, a.text);
    assert.match(a.text, new RegExp(`slept 700: shared ${i} `));
  });
  const after = await perReplica('mcpmesh_adapter_process_restarts_total', '');
  const lost = after.map((n, i) => n - restarts[i]!);
  assert.deepEqual(
    lost.filter((n) => n > 0),
    [1],
    `one process restarted, on one replica: ${JSON.stringify(lost)}`,
  );
  const home = lost.findIndex((n) => n > 0);
  const poisonedAfter = await perReplica('mcpmesh_adapter_crash_replays_total', 'result="poisoned"');
  assert.deepEqual(
    poisonedAfter.map((n, i) => n - poisoned[i]!),
    replicas.map((_, i) => (i === home ? 1 : 0)),
    'found by the replay on the replica where it struck',
  );
  assert.ok((await perReplica('mcpmesh_adapter_crash_replays_total', 'result="answered"'))[home]! >= 1, 'the others answered there');
  await until(async () => (await fleetMetric('mcpmesh_adapter_pool_processes', 'state="ready"')) === 6, 'every process back', 10_000);
});

test('100k-deep arguments with a progress token: 400 -32600 at once, never a 5xx', async () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const body = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${deep}},"_meta":{"progressToken":"p","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`;
  const a = await post(headers('echo'), body);
  assert.equal(a.status, 400, a.text);
  assert.equal(JSON.parse(a.text).error.code, -32600);
  assert.match(JSON.parse(a.text).error.message, /deeper than 128/);
});

test('more arrays and objects than --max-json-containers (100,000 by default): 400 -32600 at once; just under the bound is answered', async () => {
  const body = (n: number, id: number) =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","pad":[${Array.from({ length: n }, () => '{}').join(',')}]},"_meta":${JSON.stringify(META)}}}`;
  // The body, its params, arguments, the pad array and _meta with its capabilities: six more.
  const over = await post(headers('echo'), body(100_000 - 5, 4));
  assert.equal(over.status, 400, over.text);
  assert.equal(JSON.parse(over.text).error.code, -32600);
  assert.match(JSON.parse(over.text).error.message, /more than 100000 of them/);
  const under = await post(headers('echo'), body(100_000 - 6, 5));
  assert.equal(under.status, 200, under.text.slice(0, 300));
  assert.match(under.text, /"result"/);
});

test('invalid UTF-8 inside a JSON string: -32700, not echoed as U+FFFD', async () => {
  const good = Buffer.from(callBody('echo', { text: 'AB' }));
  const at = good.indexOf('AB');
  const bad = Buffer.concat([good.subarray(0, at), Buffer.from([0x41, 0xc3, 0x28]), good.subarray(at + 2)]);
  const a = await post(headers('echo'), bad);
  assert.equal(a.status, 400, a.text);
  assert.equal(JSON.parse(a.text).error.code, -32700);
  assert.ok(!a.text.includes('\uFFFD'));
});

test('a large valid answer (2 MiB: passed on from its bytes) arrives whole through Envoy', async () => {
  const a = await post(headers('big'), callBody('big', { kb: 2 * 1024 }));
  assert.equal(a.status, 200);
  const parsed = JSON.parse(a.text) as { id: number; result: { content: Array<{ text: string }>; resultType: string } };
  assert.equal(parsed.id, 1);
  assert.equal(parsed.result.resultType, 'complete');
  assert.equal(parsed.result.content[0]!.text.length, 2 * 1024 * 1024);
});

test("a body over Envoy's 4 MiB buffer: 413 with a JSON-RPC error (id null), not plain text", async () => {
  const pad = 'x'.repeat(4 * 1024 * 1024);
  const a = await post(headers('echo'), callBody('echo', { text: pad }));
  assert.equal(a.status, 413, a.text.slice(0, 200));
  const parsed = JSON.parse(a.text) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
  assert.deepEqual([parsed.jsonrpc, parsed.id, parsed.error.code], ['2.0', null, -32000]);
  assert.match(parsed.error.message, /must not exceed 4194304 bytes/);
});

test('after all that: the other client never failed, and the fleet is healthy with no ejection', async () => {
  const failures = await other.stop();
  assert.deepEqual(failures, []);
  await fleetHealthy();
});
