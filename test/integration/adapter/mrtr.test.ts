// Elicitation and sampling for 2026-07-28 clients of a 2025-era stdio server,
// the multi round-trip way, through a real Envoy and three adapter replicas
// (each its own `mcpmesh adapter` process, sharing a session key ring): the v2
// client's own driver answers `input_required` and retries; the retry reaches
// the replica holding the call whichever replica Envoy picks; a forged, a
// re-aimed and a replayed requestState are refused with JSON-RPC −32602; an
// abandoned call is released after --mrtr-hold-timeout; and a retry whose
// holder died gets an error at once, not a hang.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { newKeyRingJson } from '../../../adapter/sessions/session-keys.js';
import { type AdapterProcess, connectClient, firstText } from '../../support/adapter-fixture.js';
import type { Mesh } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { fleetMetric as fleetSum, type ReplicaFleet, startReplicaFleet } from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const HOLD_TIMEOUT_MS = 3_000;
const CAPS = { elicitation: { form: {} }, sampling: {} };
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': CAPS };

let fleet: ReplicaFleet;
let replicas: readonly AdapterProcess[] = [];
let mesh: Mesh;

before(async () => {
  const ring = JSON.stringify(newKeyRingJson());
  fleet = await startReplicaFleet({ pool: 2, args: ['--mrtr-hold-timeout', `${HOLD_TIMEOUT_MS}ms`], env: { MCPMESH_SESSION_KEYS: ring } });
  ({ replicas, mesh } = fleet);
  await until(async () => (await post('echo', { text: 'up' }).catch(() => ({ status: 0 }))).status === 200, 'the mesh serving', 20_000);
});
after(async () => {
  await fleet?.stop();
});

interface Answer {
  readonly status: number;
  readonly body: { id?: unknown; result?: Record<string, any>; error?: { code: number; message: string; data?: any } };
  readonly ms: number;
}

/** One 2026-07-28 POST through Envoy; a JSON or SSE answer, read whole. */
async function post(
  tool: string,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  id: number | string = 1,
): Promise<Answer> {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: args, _meta: META, ...extra } });
  const a = await rawPost(mesh.agentUrl('fixture'), body, {
    headers: modernHeaders('tools/call', tool),
    timeoutMs: 30_000,
  });
  const sse = /^data: (.*)$/gm;
  let last = a.text;
  for (let m = sse.exec(a.text); m !== null; m = sse.exec(a.text)) last = m[1]!;
  try {
    return { status: a.status, body: JSON.parse(last) as Answer['body'], ms: a.ms };
  } catch {
    throw new Error(`${a.status}: ${a.text.slice(0, 300)}`);
  }
}

/** Sum over the live replicas of a metric's samples. */
function fleetMetric(name: string, among: readonly AdapterProcess[] = replicas): Promise<number> {
  return fleetSum(among, name);
}

async function answering(): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const client = await connectClient(mesh.agentUrl('fixture'), '2026', { capabilities: CAPS, name: 'modern-answering' });
  client.setRequestHandler('elicitation/create', async (req) => {
    asked.push(req.params.message);
    return { action: 'accept', content: { answer: `answer to ${req.params.message}` } };
  });
  client.setRequestHandler('sampling/createMessage', async (req) => {
    const first = req.params.messages[0]?.content;
    asked.push(first !== undefined && !Array.isArray(first) && first.type === 'text' ? first.text : '?');
    return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'a completion' } };
  });
  return { client, asked };
}

/** A first leg by hand: the input_required result, with its requestState and input key. */
async function firstLeg(question: string): Promise<{ state: string; key: string; request: any }> {
  const a = await post('elicit', { question });
  assert.equal(a.status, 200);
  const r = a.body.result!;
  assert.equal(r['resultType'], 'input_required', JSON.stringify(a.body));
  const [key, request] = Object.entries(r['inputRequests'] as Record<string, any>)[0]!;
  return { state: r['requestState'] as string, key, request };
}

test('elicitation through Envoy and three replicas: one round and two, the retry reaching the holder wherever it lands', async () => {
  const forwardedBefore = await fleetMetric('mcpmesh_adapter_mrtr_forwarded_total');
  const { client, asked } = await answering();
  try {
    for (let i = 0; i < 9; i++) {
      const r = await client.callTool({ name: 'elicit', arguments: { question: `q${i}` } });
      assert.equal(firstText(r), `accept: {"answer":"answer to q${i}"}`);
    }
    for (let i = 0; i < 3; i++) {
      const r = await client.callTool({ name: 'elicit_twice', arguments: { first: `a${i}`, second: `b${i}` } });
      assert.equal(firstText(r), `answer to a${i} then answer to b${i}`);
    }
    assert.deepEqual(asked, [...Array.from({ length: 9 }, (_, i) => `q${i}`), 'a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  } finally {
    await client.close();
  }
  // Least-request puts a retry on the holder about one time in three: 15 retries all landing there is (1/3)^15.
  assert.ok((await fleetMetric('mcpmesh_adapter_mrtr_forwarded_total')) > forwardedBefore, 'some retries were forwarded to their holder');
  assert.equal(await fleetMetric('mcpmesh_adapter_mrtr_holds'), 0, 'no call is held any more');
});

test('two questions asked at once: the one that comes while a round is out is asked in the next round', async () => {
  const roundsBefore = await fleetMetric('mcpmesh_adapter_mrtr_rounds_total');
  const { client, asked } = await answering();
  try {
    const r = await client.callTool({ name: 'elicit_both', arguments: { first: 'x', second: 'y' } });
    assert.equal(firstText(r), 'answer to x and answer to y');
    assert.deepEqual(asked.sort(), ['x', 'y']);
  } finally {
    await client.close();
  }
  assert.equal((await fleetMetric('mcpmesh_adapter_mrtr_rounds_total')) - roundsBefore, 2);
});

test('sampling through Envoy and three replicas, the MRTR way', async () => {
  const { client, asked } = await answering();
  try {
    for (let i = 0; i < 6; i++) {
      const r = await client.callTool({ name: 'sample', arguments: { prompt: `p${i}` } });
      assert.equal(firstText(r), 'sampled: a completion');
    }
    assert.deepEqual(asked, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
  } finally {
    await client.close();
  }
});

test('the first leg carries the server request as the spec has it', async () => {
  const leg = await firstLeg('shape?');
  assert.match(leg.state, /^m[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.equal(leg.request.method, 'elicitation/create');
  assert.equal(leg.request.params.message, 'shape?');
  assert.equal(leg.request.params.mode, 'form');
  const done = await post(
    'elicit',
    { question: 'shape?' },
    { inputResponses: { [leg.key]: { action: 'decline' } }, requestState: leg.state },
    2,
  );
  assert.equal(done.body.id, 2);
  assert.equal(done.body.result?.['resultType'], 'complete');
  assert.equal(done.body.result?.['content'][0].text, 'decline: {}');
});

test('a forged or altered requestState is refused with -32602, and so is one aimed at another call', async () => {
  const leg = await firstLeg('forgery?');
  const refusedBefore = await fleetMetric('mcpmesh_adapter_mrtr_refused_total');
  const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  const forged = [
    'not a state',
    `mk1.${Buffer.alloc(64, 7).toString('base64url')}`,
    flip(leg.state, Math.floor(leg.state.length / 2)),
    flip(leg.state, leg.state.length - 3),
    'x'.repeat(10_000),
  ];
  for (const state of forged) {
    const a = await post(
      'elicit',
      { question: 'forgery?' },
      { inputResponses: { [leg.key]: { action: 'accept', content: {} } }, requestState: state },
      7,
    );
    assert.equal(a.status, 200, 'in-band: Envoy neither retries it nor counts it against the replica');
    assert.equal(a.body.id, 7);
    assert.equal(a.body.error?.code, -32602, JSON.stringify(a.body));
    assert.match(a.body.error!.message, /requestState does not verify/);
  }
  const other = await post(
    'elicit',
    { question: 'another question' },
    { inputResponses: { [leg.key]: { action: 'accept', content: {} } }, requestState: leg.state },
    8,
  );
  assert.equal(other.body.error?.code, -32602);
  assert.match(other.body.error!.message, /belongs to another request/);
  assert.equal((await fleetMetric('mcpmesh_adapter_mrtr_refused_total')) - refusedBefore, forged.length + 1);
  // None of that spent the hold: the real retry still completes the call.
  const done = await post(
    'elicit',
    { question: 'forgery?' },
    { inputResponses: { [leg.key]: { action: 'accept', content: { answer: 'real' } } }, requestState: leg.state },
    9,
  );
  assert.equal(done.body.result?.['content'][0].text, 'accept: {"answer":"real"}');
});

test('a replayed requestState is refused with -32602: each answers one round, once', async () => {
  const leg = await firstLeg('once?');
  const retry = { inputResponses: { [leg.key]: { action: 'accept', content: { answer: 'first' } } }, requestState: leg.state };
  const done = await post('elicit', { question: 'once?' }, retry, 2);
  assert.equal(done.body.result?.['content'][0].text, 'accept: {"answer":"first"}');
  for (let i = 0; i < 3; i++) {
    const again = await post('elicit', { question: 'once?' }, retry, 3 + i);
    assert.equal(again.body.error?.code, -32602, JSON.stringify(again.body));
    assert.match(again.body.error!.message, /requestState was used already/);
  }
});

test('a retry without an answer to every input request is refused, and does not spend the hold', async () => {
  const leg = await firstLeg('partial?');
  const a = await post('elicit', { question: 'partial?' }, { inputResponses: {}, requestState: leg.state }, 2);
  assert.equal(a.body.error?.code, -32602);
  assert.match(a.body.error!.message, new RegExp(`lacks an answer .* ${leg.key}`));
  const done = await post(
    'elicit',
    { question: 'partial?' },
    { inputResponses: { [leg.key]: { action: 'cancel' } }, requestState: leg.state },
    3,
  );
  assert.equal(done.body.result?.['content'][0].text, 'cancel: {}');
});

test('an abandoned call is released after the bound: its process slot is free, it is counted, and a late retry is refused', async () => {
  const abandonedBefore = await fleetMetric('mcpmesh_adapter_mrtr_abandoned_total');
  const leg = await firstLeg('anyone there?');
  const heldAt = performance.now();
  assert.equal(await fleetMetric('mcpmesh_adapter_mrtr_holds'), 1);
  assert.equal(await fleetMetric('mcpmesh_adapter_calls_in_flight'), 1, 'the held call keeps its process slot');
  await until(async () => (await fleetMetric('mcpmesh_adapter_mrtr_holds')) === 0, 'the hold released', HOLD_TIMEOUT_MS + 5_000, 100);
  const heldMs = performance.now() - heldAt;
  assert.ok(heldMs >= HOLD_TIMEOUT_MS - 500, `released after ${Math.round(heldMs)} ms, not before the bound`);
  assert.equal((await fleetMetric('mcpmesh_adapter_mrtr_abandoned_total')) - abandonedBefore, 1);
  await until(async () => (await fleetMetric('mcpmesh_adapter_calls_in_flight')) === 0, 'the slot free', 2_000, 50);
  const late = await post(
    'elicit',
    { question: 'anyone there?' },
    { inputResponses: { [leg.key]: { action: 'accept', content: {} } }, requestState: leg.state },
    2,
  );
  assert.equal(late.body.error?.code, -32602);
  assert.match(late.body.error!.message, /requestState expired/);
});

test('a retry whose holder died gets a clear error at once, not a hang', async () => {
  const leg = await firstLeg('still there?');
  let holder: AdapterProcess | undefined;
  for (const r of replicas) if ((await fleetMetric('mcpmesh_adapter_mrtr_holds', [r])) === 1) holder = r;
  assert.ok(holder, 'one replica holds the call');
  holder.child.kill('SIGKILL');
  await holder.exited;
  const a = await post(
    'elicit',
    { question: 'still there?' },
    { inputResponses: { [leg.key]: { action: 'accept', content: {} } }, requestState: leg.state },
    2,
  );
  assert.equal(a.body.error?.code, -32603, JSON.stringify(a.body));
  assert.match(a.body.error!.message, /the replica that held this call is gone/);
  assert.ok(a.ms < 10_000, `${Math.round(a.ms)} ms`);
});
