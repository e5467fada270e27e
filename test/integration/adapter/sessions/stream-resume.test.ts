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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { ensureKeyFile } from '../../../../adapter/sessions/session-keys.js';
import { clusterName } from '../../../../control-plane/envoy/clusters.js';
import { type AdapterProcess, startAdapterProcess } from '../../../support/adapter-fixture.js';
import { startConsul } from '../../../support/consul.js';
import { clusterHostStatus, type Mesh, startMesh } from '../../../support/mesh.js';
import { postToolCall } from '../../../support/modern-call.js';
import { until } from '../../../support/wait.js';

const URI = 'fixture://note';
const LATER_URI = 'fixture://later';
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-resume-'));
const keysFile = join(dir, 'session-keys.json');
const storeDir = join(dir, 'sessions');
const SESSION_ARGS = ['--session-keys-file', keysFile, '--session-store-dir', storeDir];
const HEALTH = { path: '/readyz', interval: '250ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 };

let mesh: Mesh;
const started: AdapterProcess[] = [];
let generation = 0;

before(async () => {
  await ensureKeyFile(keysFile);
  mesh = await startMesh({ config: { servers: [] } });
});
after(async () => {
  for (const r of started) r.child.kill('SIGKILL');
  await mesh?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Replica {
  readonly process: AdapterProcess;
  readonly label: string;
  readonly url: string;
}

function alive(r: Replica): boolean {
  return r.process.child.exitCode === null && r.process.child.signalCode === null;
}

async function freshReplicas(extraArgs: readonly string[] = [], sessionArgs: readonly string[] = SESSION_ARGS): Promise<Replica[]> {
  for (const r of started.splice(0)) r.child.kill('SIGKILL');
  generation++;
  const labels = [0, 1, 2].map((i) => `g${generation}r${i}`);
  const procs = await Promise.all(
    labels.map((label) =>
      startAdapterProcess('fixture', 1, [...sessionArgs, ...extraArgs], ['--label', label], { MCPMESH_LOG_LEVEL: 'info' }),
    ),
  );
  started.push(...procs);
  mesh.writeConfig({ servers: [{ name: 'fixture', replicas: procs.map((p) => p.url), policy: { healthCheck: HEALTH } }] });
  await until(
    async () => {
      const hosts = await clusterHostStatus(mesh.adminUrl, clusterName('fixture'));
      return (
        hosts.length === 3 &&
        hosts.every((h) => h.healthy) &&
        procs.every((p) => hosts.some((h) => p.url.includes(`:${h.address.split(':').pop()}/`)))
      );
    },
    'the three replicas healthy in Envoy',
    20_000,
  );
  // And Envoy's workers route to each of them (stateless calls, no session).
  const seen = new Set<string>();
  await until(
    async () => {
      const label = await statelessLabel();
      if (label !== undefined && labels.includes(label)) seen.add(label);
      return seen.size === 3;
    },
    'Envoy routing to all three replicas',
    20_000,
  );
  return procs.map((p, i) => ({ process: p, label: labels[i]!, url: p.url }));
}

/** The label of the replica a stateless call through Envoy reached, if it succeeded. */
async function statelessLabel(): Promise<string | undefined> {
  const res = await postToolCall(mesh.agentUrl('fixture'), 'slow', { ms: 0 });
  const body = await res.text();
  return res.status === 200 ? /on (g\d+r\d)/.exec(body)?.[1] : undefined;
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
  return /on (g\d+r\d)/.exec(await text(held.client, 'slow', { ms: 0 }))![1]!;
}

async function metric(url: string, name: string, labels: string): Promise<number> {
  const body = await (await fetch(url.replace(/\/mcp$/, '/metrics'))).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function sum(replicas: readonly Replica[], name: string, labels: string): Promise<number> {
  let n = 0;
  for (const r of replicas) if (alive(r)) n += await metric(r.url, name, labels);
  return n;
}

function count(list: readonly string[], uri: string): number {
  return list.filter((u) => u === uri).length;
}

async function missedUpdateReplayed(sessionArgs: readonly string[]): Promise<void> {
  // A long retry: the client's stream stays down while the update is sent.
  const replicas = await freshReplicas(['--sse-retry', '3s'], sessionArgs);
  const held = await heldSession();
  try {
    const home = await servedBy(held);
    const victim = replicas.find((r) => r.label === home)!;
    const others = replicas.filter((r) => r !== victim);
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const before = count(held.updates, URI);
    // The call goes to another replica, which adopts the session (and its subscription).
    assert.equal(await text(held.client, 'touch', { uri: URI }), `touched ${URI}`);
    assert.notEqual(await servedBy(held), home);
    assert.equal(count(held.updates, URI), before, 'the GET stream is down: nothing live');
    await until(async () => count(held.updates, URI) > before, 'the missed update, replayed on the resumed GET stream', 15_000, 50);
    assert.ok((await sum(others, 'mcpmesh_adapter_stream_events_replayed_total', 'server="fixture"')) >= 1, 'sent as a replay');
    assert.ok((await sum(others, 'mcpmesh_adapter_sessions_adopted_total', 'server="fixture"')) >= 1);
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
    for (const r of started.splice(0)) r.child.kill('SIGKILL');
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
      const home = await servedBy(held);
      const victim = replicas.find((r) => r.label === home)!;
      const others = replicas.filter((r) => r !== victim);
      victim.process.child.kill('SIGKILL');
      await victim.process.exited;
      // No POST until the GET stream is back: it reconnects first.
      await until(
        async () => (await sum(others, 'mcpmesh_adapter_sessions_adopted_total', 'via="get"')) >= 1,
        'the GET stream adopted by a survivor',
        15_000,
        50,
      );
      let streamAt: string | undefined;
      for (const r of others) if ((await metric(r.url, 'mcpmesh_adapter_sessions_adopted_total', 'via="get"')) >= 1) streamAt = r.label;
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
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
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
