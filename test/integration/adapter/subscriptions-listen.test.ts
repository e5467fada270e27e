// subscriptions/listen (2026-07-28) in front of a 2025-era stdio server,
// through a real Envoy and three adapter replicas: the v2 client's listen()
// is acknowledged with the filter the server can honor, and gets a resource
// update and a list-changed notification, stamped with its subscription id,
// after the stream has been quiet for longer than the server's call timeout
// and its idle timeout (the listen route has neither).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectClient } from '../../support/adapter-fixture.js';
import type { Mesh } from '../../support/mesh.js';
import { modernHeaders } from '../../support/modern-call.js';
import { type ReplicaFleet, startReplicaFleet } from '../../support/replica-fleet.js';
import { until } from '../../support/wait.js';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
/** The server's call timeout and idle timeout: a listen stream outlives both. */
const CALL_TIMEOUT = '1s';
const IDLE_TIMEOUT = '2s';
const QUIET_MS = 3_000;

let dir: string;
let watched: string;
let fleet: ReplicaFleet;
let mesh: Mesh;
let n = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-listen-'));
  watched = join(dir, 'watched.txt');
  writeFileSync(watched, 'v0');
  fleet = await startReplicaFleet({
    pool: 2,
    fixtureArgs: ['--watch-file', watched],
    policy: { timeout: CALL_TIMEOUT, idleTimeout: IDLE_TIMEOUT },
  });
  ({ mesh } = fleet);
  await until(
    async () => (await fetch(`${mesh.adminUrl}/config_dump`).then((r) => r.text())).includes('fixture/listen/2026'),
    'the listen route',
    20_000,
  );
  await until(async () => (await discover().catch(() => 0)) === 200, 'the mesh serving', 20_000);
});
after(async () => {
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function discover(): Promise<number> {
  const res = await fetch(mesh.agentUrl('fixture'), {
    method: 'POST',
    headers: modernHeaders('server/discover'),
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }),
  });
  await res.text();
  return res.status;
}

function change(): void {
  writeFileSync(watched, `v${++n}`);
}

test('the v2 client listens through Envoy: acknowledged, then a resource update and a list change after a quiet stream', async () => {
  const client = await connectClient(mesh.agentUrl('fixture'), '2026', { name: 'listener' });
  const updates: Array<{ uri: string; id: unknown }> = [];
  const listChanges: unknown[] = [];
  client.setNotificationHandler('notifications/resources/updated', async (note) => {
    updates.push({ uri: note.params.uri, id: (note.params._meta as Record<string, unknown> | undefined)?.[SUBSCRIPTION_ID] });
  });
  client.setNotificationHandler('notifications/resources/list_changed', async (note) => {
    listChanges.push((note.params?._meta as Record<string, unknown> | undefined)?.[SUBSCRIPTION_ID]);
  });
  try {
    const sub = await client.listen({ resourceSubscriptions: ['fixture://watched'], resourcesListChanged: true });
    assert.deepEqual(sub.honoredFilter, { resourceSubscriptions: ['fixture://watched'], resourcesListChanged: true });
    await new Promise((r) => setTimeout(r, QUIET_MS));
    change();
    await until(() => updates.length > 0 && listChanges.length > 0, 'an update and a list change', 5_000);
    assert.equal(updates[0]!.uri, 'fixture://watched');
    assert.match(String(updates[0]!.id), /^listen:/, 'stamped with the subscription id');
    assert.match(String(listChanges[0]), /^listen:/);
    // The stream is still open: the next change arrives too.
    const seen = updates.length;
    change();
    await until(() => updates.length > seen, 'the next update', 5_000);
    await sub.close();
  } finally {
    await client.close();
  }
});

interface SseReader {
  readonly status: number;
  readonly messages: Array<Record<string, any>>;
  close(): void;
}

/** A subscriptions/listen POST through Envoy, read as its events come. */
function rawListen(id: string, notifications: Record<string, unknown>): Promise<SseReader> {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { _meta: META, notifications } });
  const url = new URL(mesh.agentUrl('fixture'));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { ...modernHeaders('subscriptions/listen'), 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (res) => {
        const messages: Array<Record<string, any>> = [];
        let buffer = '';
        res.on('data', (c: Buffer) => {
          buffer += c.toString('utf8');
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^data: (.*)$/m.exec(event);
            if (data) messages.push(JSON.parse(data[1]!) as Record<string, any>);
          }
        });
        res.on('error', () => undefined);
        resolve({ status: res.statusCode ?? 0, messages, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('on the wire: the acknowledgement and every notification carry the listen request id; a filter of nothing ends at once', async () => {
  const s = await rawListen('raw-1', { resourceSubscriptions: ['fixture://watched'], resourcesListChanged: true, toolsListChanged: false });
  try {
    assert.equal(s.status, 200);
    await until(() => s.messages.length > 0, 'the acknowledgement', 5_000);
    assert.deepEqual(s.messages[0], {
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { resourceSubscriptions: ['fixture://watched'], resourcesListChanged: true },
        _meta: { [SUBSCRIPTION_ID]: 'raw-1' },
      },
    });
    change();
    await until(
      () =>
        s.messages.some((m) => m['method'] === 'notifications/resources/updated') &&
        s.messages.some((m) => m['method'] === 'notifications/resources/list_changed'),
      'the update and the list change',
      5_000,
    );
    for (const m of s.messages) assert.equal(m['params']['_meta'][SUBSCRIPTION_ID], 'raw-1', JSON.stringify(m));
    const updates = s.messages.filter((m) => m['method'] === 'notifications/resources/updated');
    assert.deepEqual(updates[0]!['params']['uri'], 'fixture://watched');
    // Two processes of the replica watch the file: repeats within the fold window are at most one more.
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(s.messages.filter((m) => m['method'] === 'notifications/resources/updated').length <= 2);
  } finally {
    s.close();
  }
  const empty = await rawListen('raw-2', { toolsListChanged: false });
  await until(() => empty.messages.length >= 2, 'the acknowledgement and the end', 5_000);
  assert.deepEqual(empty.messages[0]!['params']['notifications'], {});
  assert.equal(empty.messages[1]!['id'], 'raw-2');
  assert.equal(empty.messages[1]!['result']['_meta'][SUBSCRIPTION_ID], 'raw-2');
  empty.close();
});

test('a listen request without a valid filter gets -32602', async () => {
  for (const [id, params] of [
    ['raw-3', { _meta: META, notifications: { resourceSubscriptions: 'not a list' } }],
    ['raw-4', { _meta: META }],
  ] as const) {
    const res = await fetch(mesh.agentUrl('fixture'), {
      method: 'POST',
      headers: modernHeaders('subscriptions/listen'),
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params }),
    });
    const body = (await res.json()) as { id: string; error: { code: number; message: string } };
    assert.equal(body.id, id);
    assert.equal(body.error.code, -32602);
    assert.match(body.error.message, /'notifications' is required/);
  }
});
