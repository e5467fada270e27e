// 2025-era sessions around shared processes: resource subscriptions reach
// only the sessions that hold them (on their GET stream), survive a restart of
// the session's process, and end with the session (DELETE).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { connectClient, endSession, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

const URI = 'fixture://note';
let adapter: AdapterHandle;

before(async () => {
  adapter = await startFixtureAdapter({ poolMin: 1, backoff: { baseMs: 50, maxMs: 200, jitter: 0 } });
});
after(async () => {
  await adapter?.shutdown();
});

async function session(name: string): Promise<{ client: Client; updates: string[] }> {
  const client = await connectClient(adapter.url, '2025', { name });
  const updates: string[] = [];
  client.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
  return { client, updates };
}

const touch = async (c: Client) => firstText(await c.callTool({ name: 'touch', arguments: { uri: URI } }));

test('an update reaches the sessions subscribed to it, and only them', async () => {
  const a = await session('a');
  const b = await session('b');
  try {
    await a.client.subscribeResource({ uri: URI });
    assert.equal(await touch(b.client), `touched ${URI}`);
    await until(() => a.updates.length === 1, 'the update on the GET stream of a');
    assert.deepEqual(b.updates, []);

    await b.client.subscribeResource({ uri: URI });
    await a.client.unsubscribeResource({ uri: URI });
    assert.equal(await touch(a.client), `touched ${URI}`, 'the process keeps the subscription b still holds');
    await until(() => b.updates.length === 1, 'the update for b');
    assert.equal(a.updates.length, 1);

    await b.client.unsubscribeResource({ uri: URI });
    assert.equal(await touch(a.client), `${URI} has no subscriber`, 'the last unsubscribe reaches the process');
  } finally {
    await endSession(a.client);
    await endSession(b.client);
  }
});

test('subscriptions are restored on a restarted process', async () => {
  const a = await session('a');
  try {
    await a.client.subscribeResource({ uri: URI });
    const crashed = await a.client.callTool({ name: 'crash', arguments: { afterMs: 20 } }).catch((err: Error) => err);
    assert.ok(crashed instanceof Error, 'the call in flight failed with the process');
    await until(() => adapter.ready(), 'the restarted process');
    assert.equal(await touch(a.client), `touched ${URI}`);
    await until(() => a.updates.length === 1, 'the update after the restart');
  } finally {
    await endSession(a.client);
  }
});

test('DELETE ends the session and releases what it held', async () => {
  const a = await session('a');
  const watcher = await session('w');
  try {
    await a.client.subscribeResource({ uri: URI });
    const sid = a.client.transport?.sessionId;
    assert.ok(sid);
    const del = await fetch(adapter.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    const after = await fetch(adapter.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });
    assert.equal(after.status, 404);
    await until(async () => (await touch(watcher.client)) === `${URI} has no subscriber`, 'the subscription released');
  } finally {
    await a.client.close();
    await endSession(watcher.client);
  }
});
