// A 2025-era GET stream that outlives its replica: three `mcpmesh adapter`
// replicas of one server share a key file and a session store directory
// (which holds the GET streams' replay windows too), behind the control plane
// and a real Envoy, driven by the official SDK 1.x client as it is (it sends
// Last-Event-ID when its GET stream reconnects).
//
// - kill -9 of the session's replica: a resource update sent while the
//   client's GET stream is down (by the replica that took the calls over)
//   reaches the client when the stream reconnects with Last-Event-ID, on
//   another replica, as a replay; once with the directory store, once with
//   Consul KV (a real agent) holding the state and the windows.
// - The GET-first split: after kill -9, the client's GET stream reconnects
//   before its next POST, so stream and calls can be adopted by different
//   replicas; updates caused by the calls, for an old subscription and for
//   one made after the split, still reach the client.
// - Raw Last-Event-ID rules: a foreign id is 400; an id the window no longer
//   has gives a live stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startConsul } from '../../../support/consul.js';
import { type Mesh, startMesh } from '../../../support/mesh.js';
import {
  firstSample,
  firstSampleSum,
  LABEL_PATTERN,
  type LabelledFleets,
  type LabelledReplica,
  labelledFleets,
} from '../../../support/replica-fleet.js';
import { INITIALIZE } from '../../../support/session-messages.js';
import { sharedSessionFiles } from '../../../support/shared-session-files.js';
import { until } from '../../../support/wait.js';

const URI = 'fixture://note';
const LATER_URI = 'fixture://later';
const files = sharedSessionFiles('mcpmesh-resume-');
const { keysFile, args: SESSION_ARGS } = files;

let mesh: Mesh;
let fleets: LabelledFleets;

before(async () => {
  await files.createKeys();
  mesh = await startMesh({ config: { servers: [] } });
  fleets = labelledFleets(mesh);
});
after(async () => {
  fleets?.killAll();
  await mesh?.stop();
  files.remove();
});

function freshReplicas(extraArgs: readonly string[] = [], sessionArgs: readonly string[] = SESSION_ARGS): Promise<LabelledReplica[]> {
  return fleets.fresh([...sessionArgs, ...extraArgs]);
}

interface Held {
  readonly client: Client;
  readonly updates: string[];
}

/** An SDK 1.x session through Envoy with a subscription and its GET stream delivering. */
async function heldSession(): Promise<Held> {
  const client = new Client({ name: 'resume-test', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')));
  const held: Held = { client, updates: [] };
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void held.updates.push(n.params.uri));
  client.onerror = () => undefined;
  await client.connect(transport);
  await client.subscribeResource({ uri: URI });
  await until(
    async () => {
      assert.equal(await text(client, 'touch', { uri: URI }), `touched ${URI}`);
      return held.updates.length > 0;
    },
    'an update on the GET stream',
    10_000,
    100,
  );
  return held;
}

async function text(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ text?: string }>; isError?: boolean };
  assert.notEqual(r.isError, true);
  return r.content[0]?.text ?? '';
}

async function servedBy(held: Held): Promise<string> {
  return LABEL_PATTERN.exec(await text(held.client, 'slow', { ms: 0 }))![1]!;
}

function count(list: readonly string[], uri: string): number {
  return list.filter((u) => u === uri).length;
}

/** Kills (-9) the replica serving the session: its label, and the replicas left. */
async function killHome(held: Held, replicas: readonly LabelledReplica[]): Promise<{ home: string; others: LabelledReplica[] }> {
  const home = await servedBy(held);
  const victim = replicas.find((r) => r.label === home)!;
  victim.process.child.kill('SIGKILL');
  await victim.process.exited;
  return { home, others: replicas.filter((r) => r !== victim) };
}

async function missedUpdateReplayed(sessionArgs: readonly string[]): Promise<void> {
  // A long retry: the client's stream stays down while the update is sent.
  const replicas = await freshReplicas(['--sse-retry', '3s'], sessionArgs);
  const held = await heldSession();
  try {
    const { home, others } = await killHome(held, replicas);
    const before = count(held.updates, URI);
    // The call goes to another replica, which adopts the session (and its subscription).
    assert.equal(await text(held.client, 'touch', { uri: URI }), `touched ${URI}`);
    assert.notEqual(await servedBy(held), home);
    assert.equal(count(held.updates, URI), before, 'the GET stream is down: nothing live');
    await until(async () => count(held.updates, URI) > before, 'the missed update, replayed on the resumed GET stream', 15_000, 50);
    assert.ok((await firstSampleSum(others, 'mcpmesh_adapter_stream_events_replayed_total', 'server="fixture"')) >= 1, 'sent as a replay');
    assert.ok((await firstSampleSum(others, 'mcpmesh_adapter_sessions_adopted_total', 'server="fixture"')) >= 1);
    // And the stream is live again.
    const live = count(held.updates, URI);
    await until(
      async () => {
        assert.equal(await text(held.client, 'touch', { uri: URI }), `touched ${URI}`);
        return count(held.updates, URI) > live;
      },
      'a live update after the resume',
      10_000,
      200,
    );
  } finally {
    await held.client.close();
  }
}

test('kill -9: an update sent while the GET stream is down reaches the client when it resumes with Last-Event-ID on another replica', async () => {
  await missedUpdateReplayed(SESSION_ARGS);
});

test('the same with the session state and the replay windows in Consul KV', async () => {
  const consul = await startConsul();
  try {
    await missedUpdateReplayed(['--session-keys-file', keysFile, '--consul', consul.url]);
  } finally {
    fleets.killAll();
    await consul.stop();
  }
});

test('the GET-first split: stream and calls adopted by different replicas after kill -9, and updates reach the client', async () => {
  // Envoy's balancer decides where the first POST after the failover goes; the
  // split needs it to differ from the GET stream's replica (about 3 times in 4).
  const ATTEMPTS = 6;
  const outcomes: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const replicas = await freshReplicas();
    const held = await heldSession();
    try {
      const { others } = await killHome(held, replicas);
      // No POST until the GET stream is back: it reconnects first.
      await until(
        async () => (await firstSampleSum(others, 'mcpmesh_adapter_sessions_adopted_total', 'via="get"')) >= 1,
        'the GET stream adopted by a survivor',
        15_000,
        50,
      );
      let streamAt: string | undefined;
      for (const r of others)
        if ((await firstSample(r.url, 'mcpmesh_adapter_sessions_adopted_total', 'via="get"')) >= 1) streamAt = r.label;
      const before = count(held.updates, URI);
      assert.equal(await text(held.client, 'touch', { uri: URI }), `touched ${URI}`);
      const callsAt = await servedBy(held);
      await until(
        async () => count(held.updates, URI) > before,
        `the update of the call on ${callsAt} (stream on ${streamAt})`,
        10_000,
        50,
      );
      // A subscription made after the split: only the calls' replica knows it.
      await held.client.subscribeResource({ uri: LATER_URI });
      assert.equal(await text(held.client, 'touch', { uri: LATER_URI }), `touched ${LATER_URI}`);
      await until(async () => count(held.updates, LATER_URI) >= 1, 'the update of a subscription made after the split', 10_000, 50);
      outcomes.push(`${streamAt}/${callsAt}`);
      if (streamAt !== callsAt) break;
    } finally {
      await held.client.close();
    }
  }
  const last = outcomes.at(-1)!.split('/');
  assert.notEqual(last[0], last[1], `no split in ${ATTEMPTS} attempts (stream/calls: ${outcomes.join(', ')})`);
});

test('Last-Event-ID: a foreign id is 400, an id the window no longer has gives a live stream', async () => {
  const replicas = await freshReplicas();
  const url = replicas[0]!.url;
  const init = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(INITIALIZE),
  });
  const sid = init.headers.get('mcp-session-id')!;
  await init.text();
  const get = (lastEventId: string) =>
    fetch(replicas[1]!.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': lastEventId } });
  const foreign = await get('not-one-of-ours');
  assert.equal(foreign.status, 400);
  assert.equal(((await foreign.json()) as { error: { code: number } }).error.code, -32000);
  const ac = new AbortController();
  const gone = await fetch(replicas[1]!.url, {
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': 'g-00000000000001-0000001-00000000' },
    signal: ac.signal,
  });
  assert.equal(gone.status, 200);
  const reader = gone.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /retry: \d+/);
  ac.abort();
});
