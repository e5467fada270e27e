// Sessions that outlive their replica: three `mcpmesh adapter` replicas of one
// server share a key file and a session state directory, behind the control
// plane and a real Envoy. An official SDK 1.x client (which does not
// re-initialize on a 404) holds a session with a resource subscription, a
// logging level and an open GET stream; its replica is killed (-9) or drained
// (SIGTERM) and the session goes on on another replica: no call fails, the
// level and the subscription hold there, the GET stream comes back.
// Forged, tampered, expired and other servers' ids are refused and counted;
// a rotated key still accepts ids of the old one for its grace.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { rotateKeyFile } from '../../../../adapter/sessions/session-keys.js';
import { startAdapterProcess } from '../../../support/adapter-fixture.js';
import { type Mesh, startMesh } from '../../../support/mesh.js';
import {
  firstSample,
  firstSampleSum,
  LABEL_PATTERN,
  type LabelledFleets,
  type LabelledReplica,
  labelledFleets,
} from '../../../support/replica-fleet.js';
import { INITIALIZE, TOOLS_LIST } from '../../../support/session-messages.js';
import { sharedSessionFiles } from '../../../support/shared-session-files.js';
import { until } from '../../../support/wait.js';

const URI = 'fixture://note';
const files = sharedSessionFiles('mcpmesh-portable-');
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

/** Three fresh replicas (fresh processes: no logging level left from an earlier test), in Envoy. */
function freshReplicas(extraArgs: readonly string[] = []): Promise<LabelledReplica[]> {
  return fleets.fresh([...SESSION_ARGS, ...extraArgs]);
}

interface Held {
  readonly client: Client;
  readonly transport: StreamableHTTPClientTransport;
  readonly updates: string[];
  readonly logs: string[];
  /** Errors the transport reported (a GET stream cut by a dying replica is one). */
  readonly errors: string[];
}

/** An SDK 1.x session through Envoy with a subscription, the logging level `error` and its GET stream delivering. */
async function heldSession(): Promise<Held> {
  const client = new Client({ name: 'portable-test', version: '1.2.3' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture')));
  const held: Held = { client, transport, updates: [], logs: [], errors: [] };
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void held.updates.push(n.params.uri));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void held.logs.push(String(n.params.data)));
  client.onerror = (err) => void held.errors.push(err.message);
  await client.connect(transport);
  // The process's default passes `info`: a message before the level is set.
  // (A message is attributed to the one call in flight on its process; the
  // control plane's tool discovery may have one there too, and then it is
  // dropped as ambiguous: so, until one arrives.)
  await until(
    async () => {
      assert.equal(await text(client, 'log', { message: 'before' }), 'logged');
      return held.logs.length > 0;
    },
    'an info message under the default level',
    10_000,
    50,
  );
  assert.ok(held.logs.every((l) => l === 'before'));
  await client.setLoggingLevel('error');
  await client.subscribeResource({ uri: URI });
  // The GET stream is open once an update arrives on it.
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

/** The replica serving the session now, by the label in `slow`'s answer. */
async function servedBy(held: Held): Promise<string> {
  return LABEL_PATTERN.exec(await text(held.client, 'slow', { ms: 0 }))![1]!;
}

/** What must hold on the replica that took the session over. */
async function carriedOn(held: Held, others: readonly LabelledReplica[], gone: string): Promise<void> {
  const now = await servedBy(held);
  assert.notEqual(now, gone);
  assert.ok(others.some((r) => r.label === now));
  // The level `error` holds: an `info` message is not sent (it would come before the answer).
  const logsBefore = held.logs.length;
  assert.equal(await text(held.client, 'log', { message: 'after' }), 'logged');
  assert.equal(held.logs.length, logsBefore, `no info message under level error: ${held.logs.join(', ')}`);
  // The subscription holds on the new process, and updates reach the GET stream once it is back.
  const updatesBefore = held.updates.length;
  await until(
    async () => {
      assert.equal(await text(held.client, 'touch', { uri: URI }), `touched ${URI}`);
      return held.updates.length > updatesBefore;
    },
    'an update on the resumed GET stream',
    15_000,
    200,
  );
  assert.equal((await firstSampleSum(others, 'mcpmesh_adapter_sessions_adopted_total', 'server="fixture"')) >= 1, true);
  // Envoy keeps the session where it went.
  for (let i = 0; i < 5; i++) assert.equal(await servedBy(held), now);
}

test('kill -9 of the session replica: the next call succeeds on another replica, with its level, subscription and GET stream', async () => {
  const replicas = await freshReplicas();
  const held = await heldSession();
  try {
    const home = await servedBy(held);
    const victim = replicas.find((r) => r.label === home)!;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    // The very next call, with no wait for Envoy to notice.
    const after = await servedBy(held);
    assert.notEqual(after, home);
    await carriedOn(
      held,
      replicas.filter((r) => r !== victim),
      home,
    );
  } finally {
    await held.client.close();
  }
});

test('SIGTERM of the session replica: no call of the session fails while it drains, and the session goes on elsewhere', async () => {
  const replicas = await freshReplicas();
  const held = await heldSession();
  try {
    const home = await servedBy(held);
    const leaving = replicas.find((r) => r.label === home)!;
    leaving.process.child.kill('SIGTERM');
    const failures: string[] = [];
    let calls = 0;
    let exited = false;
    void leaving.process.exited.then(() => (exited = true));
    const deadline = performance.now() + 20_000;
    while (!exited && performance.now() < deadline) {
      calls++;
      await text(held.client, 'slow', { ms: 20 }).catch((err: Error) => void failures.push(err.message));
    }
    assert.equal(await leaving.process.exited, 0, leaving.process.stderr());
    assert.deepEqual(failures, []);
    assert.ok(calls > 10, `${calls} calls during the drain`);
    await carriedOn(
      held,
      replicas.filter((r) => r !== leaving),
      home,
    );
  } finally {
    await held.client.close();
  }
});

async function post(
  url: string,
  sid: string | undefined,
  body: object,
): Promise<{ status: number; body: { error?: { code: number; message: string } }; sid: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(sid !== undefined ? { 'mcp-session-id': sid } : {}),
    },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { code: number; message: string } },
    sid: res.headers.get('mcp-session-id'),
  };
}

/** A fresh session's id, issued by the replica at `url` (no Envoy between). */
async function issue(url: string): Promise<string> {
  const r = await post(url, undefined, INITIALIZE);
  assert.equal(r.status, 200);
  return r.sid!;
}

function tamper(id: string): string {
  // A character inside the sealed ciphertext, in the middle of the token.
  const i = Math.floor(id.length / 2);
  return id.slice(0, i) + (id[i] === 'A' ? 'B' : 'A') + id.slice(i + 1);
}

test('forged, tampered, expired and other servers\u2019 ids: 404 with -32001, counted by reason, logged without the id', async () => {
  const replicas = await freshReplicas(['--session-lifetime', '1s']);
  const other = await startAdapterProcess('other', 1, SESSION_ARGS);
  fleets.track(other);
  const agent = mesh.agentUrl('fixture');
  const valid = await issue(replicas[0]!.url);
  // Adopted across replicas while valid.
  assert.equal((await post(replicas[1]!.url, valid, TOOLS_LIST)).status, 200);
  const cases: Array<[string, string]> = [
    ['malformed', 'not-a-session-id'],
    ['malformed', '1k.AAAA'],
    ['tampered', tamper(valid)],
    ['wrong_server', await issue(other.url)],
  ];
  for (const [reason, sid] of cases) {
    const r = await post(agent, sid, TOOLS_LIST);
    assert.equal(r.status, 404, `${reason}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, -32001, reason);
  }
  await new Promise((r) => setTimeout(r, 1_100));
  const expired = await post(replicas[2]!.url, valid, TOOLS_LIST);
  assert.equal(expired.status, 404);
  assert.equal(expired.body.error?.code, -32001);
  const refused = (reason: string) => firstSampleSum(replicas, 'mcpmesh_adapter_session_ids_refused_total', `reason="${reason}"`);
  assert.equal(await refused('malformed'), 2);
  assert.equal(await refused('tampered'), 1);
  assert.equal(await refused('wrong_server'), 1);
  assert.equal(await refused('expired'), 1);
  const logs = replicas.map((r) => r.process.stderr()).join('\n');
  assert.match(logs, /session id refused/);
  for (const [, sid] of cases) assert.equal(logs.includes(sid), false, 'a refused id is never logged');
  assert.equal(logs.includes(valid), false);
});

test('a rotated key signs new ids, and ids of the old key are still taken over during its grace, then refused', async () => {
  const ring = JSON.parse(readFileSync(keysFile, 'utf8')) as { graceSeconds?: number; keys: Array<{ kid: string }> };
  writeFileSync(keysFile, JSON.stringify({ ...ring, graceSeconds: 3 }), { mode: 0o600 });
  const replicas = await freshReplicas();
  const oldKid = ring.keys.at(-1)!.kid;
  const old = await issue(replicas[0]!.url);
  assert.ok(old.startsWith(`1${oldKid}.`));
  const rotatedAt = Date.now();
  const rotated = await rotateKeyFile(keysFile, { activateAfterMs: 0, now: rotatedAt });
  const newKid = rotated.keys.at(-1)!.kid;
  assert.notEqual(newKid, oldKid);
  // Every replica reads the new ring (fs.watch, or its poll).
  await until(
    async () => {
      for (const r of replicas) if (!(await issue(r.url)).startsWith(`1${newKid}.`)) return false;
      return true;
    },
    'every replica signing with the new key',
    15_000,
    100,
  );
  // The old id, unknown to replica 1, is adopted there: the old key is in its grace.
  const adopted = await post(replicas[1]!.url, old, TOOLS_LIST);
  assert.equal(adopted.status, 200, JSON.stringify(adopted.body));
  assert.equal(await firstSample(replicas[1]!.url, 'mcpmesh_adapter_sessions_adopted_total', 'via="post"'), 1);
  // After the grace, replica 2 (which never saw it) refuses it: its key is no longer accepted.
  await new Promise((r) => setTimeout(r, Math.max(0, rotatedAt + 3_000 + 200 - Date.now())));
  const late = await post(replicas[2]!.url, old, TOOLS_LIST);
  assert.equal(late.status, 404);
  assert.equal(late.body.error?.code, -32001);
  assert.equal(await firstSample(replicas[2]!.url, 'mcpmesh_adapter_session_ids_refused_total', 'reason="unknown_key"'), 1);
});

test('DELETE on one replica ends the session on every replica', async () => {
  const replicas = await freshReplicas();
  const sid = await issue(replicas[0]!.url);
  const del = await fetch(replicas[1]!.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  assert.equal(del.status, 200);
  const r = await post(replicas[2]!.url, sid, TOOLS_LIST);
  assert.equal(r.status, 404);
  assert.equal(r.body.error?.code, -32001);
  assert.equal(await firstSample(replicas[2]!.url, 'mcpmesh_adapter_session_ids_refused_total', 'reason="ended"'), 1);
});
