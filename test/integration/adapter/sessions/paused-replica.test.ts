// A replica that hangs and comes back: three `mcpmesh adapter` replicas of one
// server share a key file and a session state directory, behind the control
// plane and a real Envoy. An official SDK 1.x client holds a session with a
// subscription, a logging level and an open GET stream on one replica, and
// another session (raw HTTP, no Envoy between) lives there too. The replica is
// stopped (SIGSTOP); Envoy moves the SDK session to another replica, where its
// level changes, and the raw session is ended (DELETE) on a third. Then the
// stopped replica resumes (SIGCONT). It notices it was paused, asks the store,
// and gives both sessions up: the SDK client's GET stream, which hung on it,
// ends and comes back on the replica that holds the session now (updates reach
// the client again), and the ended session is refused there, not served from
// the stale copy.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { clusterName } from '../../../../control-plane/envoy/clusters.js';
import type { AdapterProcess } from '../../../support/adapter-fixture.js';
import { clusterHostStatus, type Mesh, startMesh } from '../../../support/mesh.js';
import { postToolCall } from '../../../support/modern-call.js';
import { firstSample, fleetConfig, startReplicas } from '../../../support/replica-fleet.js';
import { INITIALIZE, TOOLS_LIST } from '../../../support/session-messages.js';
import { sharedSessionFiles } from '../../../support/shared-session-files.js';
import { until } from '../../../support/wait.js';

const URI = 'fixture://note';
const files = sharedSessionFiles('mcpmesh-paused-');
const SESSION_ARGS = files.args;
const LABELS = ['p0', 'p1', 'p2'];

let mesh: Mesh;
let replicas: AdapterProcess[] = [];

before(async () => {
  await files.createKeys();
  replicas = await startReplicas({
    pool: 1,
    args: SESSION_ARGS,
    fixtureArgs: (i) => ['--label', LABELS[i]!],
    env: { MCPMESH_LOG_LEVEL: 'info' },
  });
  mesh = await startMesh({ config: fleetConfig(replicas) });
  await until(async () => (await hostHealth()).filter((h) => h).length === 3, 'the three replicas healthy in Envoy', 20_000);
  // Clusters come before the listener and its routes: wait for a call through Envoy to succeed too.
  await until(async () => (await statelessCall().catch(() => 0)) === 200, 'the agent listener and its routes', 20_000);
});
after(async () => {
  for (const r of replicas) {
    r.child.kill('SIGCONT');
    r.child.kill('SIGKILL');
  }
  await mesh?.stop();
  files.remove();
});

/** A 2026-07-28 call through Envoy: its status. */
async function statelessCall(): Promise<number> {
  const res = await postToolCall(mesh.agentUrl('fixture'), 'slow', { ms: 0 });
  await res.text();
  return res.status;
}

/** Envoy's health of each replica, in the order of `replicas`. */
async function hostHealth(): Promise<boolean[]> {
  const hosts = await clusterHostStatus(mesh.adminUrl, clusterName('fixture'));
  return replicas.map((r) => hosts.some((h) => r.url.includes(`:${h.address.split(':').pop()}/`) && h.healthy && !h.ejected));
}

async function text(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ text?: string }>; isError?: boolean };
  assert.notEqual(r.isError, true);
  return r.content[0]?.text ?? '';
}

async function servedBy(client: Client): Promise<string> {
  return /on (p\d)/.exec(await text(client, 'slow', { ms: 0 }))![1]!;
}

function metric(r: AdapterProcess, name: string, labels = ''): Promise<number> {
  return firstSample(r.url, name, labels);
}

/** A raw request straight to one replica, as a load balancer without affinity would send it. */
async function direct(r: AdapterProcess, method: 'POST' | 'DELETE', sid: string | undefined, body?: object) {
  const res = await fetch(r.url, {
    method,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(sid !== undefined ? { 'mcp-session-id': sid } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const t = await res.text();
  return { status: res.status, text: t, sid: res.headers.get('mcp-session-id') };
}

test('SIGSTOP, the sessions move on, SIGCONT: the resumed replica gives them up instead of serving stale copies', async () => {
  const client = new Client({ name: 'paused-test', version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')));
  const updates: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
  await client.connect(transport);
  try {
    await client.setLoggingLevel('error');
    await client.subscribeResource({ uri: URI });
    await until(
      async () => {
        await text(client, 'touch', { uri: URI });
        return updates.length > 0;
      },
      'an update on the GET stream',
      10_000,
      100,
    );
    const homeLabel = await servedBy(client);
    const home = replicas[LABELS.indexOf(homeLabel)]!;
    const others = replicas.filter((r) => r !== home);
    // A second session on the same replica, straight to it.
    const raw = await direct(home, 'POST', undefined, INITIALIZE);
    assert.equal(raw.status, 200, raw.text);
    const rawId = raw.sid!;
    assert.equal((await direct(home, 'POST', rawId, TOOLS_LIST)).status, 200);
    assert.equal(await metric(home, 'mcpmesh_adapter_sessions'), 2);

    home.child.kill('SIGSTOP');
    await until(async () => !(await hostHealth())[LABELS.indexOf(homeLabel)], 'Envoy seeing the stopped replica unhealthy', 10_000);
    // The SDK session moves on and changes there; the raw one is ended on another replica.
    const nowLabel = await servedBy(client);
    assert.notEqual(nowLabel, homeLabel);
    const now = replicas[LABELS.indexOf(nowLabel)]!;
    await client.setLoggingLevel('warning');
    const third = others.find((r) => r !== now)!;
    assert.equal((await direct(third, 'DELETE', rawId)).status, 200);

    home.child.kill('SIGCONT');
    await until(
      async () =>
        (await metric(home, 'mcpmesh_adapter_sessions_released_total', 'reason="moved"')) === 1 &&
        (await metric(home, 'mcpmesh_adapter_sessions_released_total', 'reason="ended"')) === 1,
      'the resumed replica giving both sessions up',
      10_000,
    );
    assert.equal(await metric(home, 'mcpmesh_adapter_sessions'), 0);
    // The ended session is refused there, not served from the copy it held.
    const stale = await direct(home, 'POST', rawId, TOOLS_LIST);
    assert.equal(stale.status, 404, stale.text);
    assert.equal((JSON.parse(stale.text) as { error: { code: number } }).error.code, -32001);
    // The GET stream that hung on it ended, and came back where the session is now: updates arrive again.
    const before = updates.length;
    await until(
      async () => {
        await text(client, 'touch', { uri: URI });
        return updates.length > before;
      },
      'an update on the GET stream back on the replica holding the session',
      15_000,
      200,
    );
    assert.equal(await servedBy(client), nowLabel, 'the session stays where it went');
    await until(async () => (await hostHealth()).every((h) => h), 'the resumed replica healthy again', 10_000);
  } finally {
    await client.close();
  }
});
