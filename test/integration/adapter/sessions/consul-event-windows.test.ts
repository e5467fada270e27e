// GET-stream replay windows in a real Consul agent (loopback): replicas that
// append to one session's window at once all land (check-and-set), the window
// keeps its bounds, a value another process wrote badly reads as empty, and
// the number of windows is bounded by the sweep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ConsulEventWindowStore } from '../../../../adapter/sessions/event-window-consul-store.js';
import { EventIds } from '../../../../adapter/sessions/event-window-store.js';
import { ConsulHttp } from '../../../../lib/consul/consul-http.js';
import { type ConsulAgent, startConsul } from '../../../support/consul.js';

let consul: ConsulAgent;
let http: ConsulHttp;

before(async () => {
  consul = await startConsul();
  http = new ConsulHttp({ url: consul.url, maxSockets: 8 });
});
after(async () => {
  http?.close();
  await consul?.stop();
});

const newKey = () => randomBytes(16).toString('base64url');

test('concurrent appends of three replicas to one window all land, within the bounds', async () => {
  const bounds = { maxEvents: 20, maxBytes: 64 * 1024, maxAgeMs: 60_000 };
  const replicas = [0, 1, 2].map(() => ({ store: new ConsulEventWindowStore({ http, server: 'tools', bounds }), ids: new EventIds() }));
  const key = newKey();
  await Promise.all(replicas.flatMap((r, i) => [0, 1, 2].map((j) => r.store.append(key, { id: r.ids.next(), data: `r${i}e${j}` }))));
  const window = await replicas[0]!.store.list(key);
  assert.deepEqual(window.map((e) => e.data).sort(), ['r0e0', 'r0e1', 'r0e2', 'r1e0', 'r1e1', 'r1e2', 'r2e0', 'r2e1', 'r2e2']);
  for (let i = 0; i < 30; i++) await replicas[1]!.store.append(key, { id: replicas[1]!.ids.next(), data: `more${i}` });
  const trimmed = await replicas[2]!.store.list(key);
  assert.equal(trimmed.length, 20);
  assert.equal(trimmed.at(-1)!.data, 'more29');
  for (const r of replicas) await r.store.close();
});

test('a value that is not a window reads as empty; windows beyond maxWindows are swept, oldest first', async () => {
  const store = new ConsulEventWindowStore({ http, server: 'swept', maxWindows: 10, sweepEvery: 1_000 });
  const bad = newKey();
  await consul.api('PUT', `/v1/kv/mcpmesh/events/swept/${bad}`, { v: 1, events: [{ id: 'not-an-id', data: 'x' }] });
  assert.deepEqual(await store.list(bad), []);
  const ids = new EventIds();
  const keys: string[] = [];
  for (let i = 0; i < 14; i++) {
    const k = newKey();
    keys.push(k);
    await store.append(k, { id: ids.next(), data: String(i) });
  }
  await store.sweep();
  const left = (await consul.api('GET', '/v1/kv/mcpmesh/events/swept/?keys')) as string[];
  assert.ok(left.length <= 9, `${left.length} windows left`);
  // The newest stayed.
  assert.deepEqual(
    (await store.list(keys.at(-1)!)).map((e) => e.data),
    ['13'],
  );
  assert.deepEqual(await store.list(keys[0]!), []);
  await store.discard(keys.at(-1)!);
  assert.deepEqual(await store.list(keys.at(-1)!), []);
  await store.close();
});
