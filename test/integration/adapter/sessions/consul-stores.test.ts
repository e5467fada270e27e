// The session key ring and session state in a real Consul agent (loopback).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SessionIdCodec } from '../../../../adapter/sessions/session-id-codec.js';
import { ConsulKeyRingWatcher, ensureConsulKeyRing, type KeyRing } from '../../../../adapter/sessions/session-keys.js';
import { ConsulSessionStateStore } from '../../../../adapter/sessions/session-state-consul-store.js';
import { ConsulHttp } from '../../../../lib/consul/consul-http.js';
import { type ConsulAgent, startConsul } from '../../../support/consul.js';
import { until } from '../../../support/wait.js';

let consul: ConsulAgent;
let http: ConsulHttp;

before(async () => {
  consul = await startConsul();
  http = new ConsulHttp({ url: consul.url, maxSockets: 4 });
});
after(async () => {
  http?.close();
  await consul?.stop();
});

const HOUR = 3_600_000;
const newKey = () => randomBytes(16).toString('base64url');
const kvKeys = async (prefix: string) => {
  try {
    return (await consul.api('GET', `/v1/kv/${prefix}?keys`)) as string[];
  } catch (err) {
    if (/404/.test(String(err))) return [];
    throw err;
  }
};

test('key ring: created once by concurrent replicas, read by each, rotation followed by the watch', async () => {
  const created = await Promise.all([1, 2, 3].map(() => ensureConsulKeyRing(http, 'tools')));
  assert.equal(created.filter(Boolean).length, 1);
  const changes: KeyRing[] = [];
  const a = new ConsulKeyRingWatcher({ http, server: 'tools', waitSeconds: 5, onChange: (r) => changes.push(r) });
  const b = new ConsulKeyRingWatcher({ http, server: 'tools', waitSeconds: 5 });
  a.start();
  b.start();
  try {
    const [ra, rb] = await Promise.all([a.ready(), b.ready()]);
    const now = Date.now();
    const id = new SessionIdCodec({ server: 'tools', keys: () => a.ring }).seal({
      protocolVersion: '2025-06-18',
      clientCapabilities: {},
      clientInfo: { name: 'c', version: '1' },
    }).id;
    assert.ok(new SessionIdCodec({ server: 'tools', keys: () => b.ring }).open(id).ok, 'another replica opens it');
    assert.equal(ra.signer(now)?.kid, rb.signer(now)?.kid);
    const current = JSON.parse(
      Buffer.from(((await consul.api('GET', '/v1/kv/mcpmesh/session-keys/tools')) as { Value: string }[])[0]!.Value, 'base64').toString(
        'utf8',
      ),
    ) as { keys: unknown[] };
    const next = {
      version: 1,
      keys: [...current.keys, { kid: 'k2', secret: randomBytes(32).toString('base64'), activeFrom: now + 1_000 }],
    };
    await consul.api('PUT', '/v1/kv/mcpmesh/session-keys/tools', next);
    await until(() => changes.length === 1 && b.ring?.verifier('k2', now) !== undefined, 'both watches see the rotation');
    assert.ok(new SessionIdCodec({ server: 'tools', keys: () => b.ring }).open(id).ok, 'the old key stays accepted');
  } finally {
    a.stop();
    b.stop();
  }
});

test('state store: the store contract against Consul KV', async () => {
  const now = Date.now();
  const store = new ConsulSessionStateStore({ http, server: 'tools' });
  const k = newKey();
  assert.equal(await store.get(k), undefined);
  await store.put(k, { logLevel: 'debug', subscriptions: ['file:///x'] }, now + HOUR);
  assert.deepEqual(await store.get(k), { logLevel: 'debug', subscriptions: ['file:///x'] });
  assert.deepEqual(await kvKeys('mcpmesh/sessions/tools/'), [`mcpmesh/sessions/tools/${k}`]);
  // Another replica (another client) reads what this one wrote.
  const other = new ConsulSessionStateStore({ http: new ConsulHttp({ url: consul.url }), server: 'tools' });
  assert.deepEqual(await other.get(k), { logLevel: 'debug', subscriptions: ['file:///x'] });
  await store.put(k, { subscriptions: [], ended: true }, now + HOUR);
  assert.deepEqual(await other.get(k), { subscriptions: [], ended: true });
  await store.delete(k);
  assert.equal(await other.get(k), undefined);
  // A value written by something else is validated, refused and removed.
  const bad = newKey();
  await consul.api('PUT', `/v1/kv/mcpmesh/sessions/tools/${bad}`, '{"v":1,"expiresAt":"soon"}');
  assert.equal(await store.get(bad), undefined);
  assert.deepEqual(await kvKeys('mcpmesh/sessions/tools/'), []);
  const expired = newKey();
  await store.put(expired, { subscriptions: [] }, now + 50);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(await store.get(expired), undefined);
  await store.close();
  await other.close();
});

test('state store: bounded in Consul, expired and oldest entries evicted in transactions', async () => {
  const now = Date.now();
  const store = new ConsulSessionStateStore({ http, server: 'bounded', maxEntries: 100, sweepEvery: 1_000_000 });
  const keys = Array.from({ length: 150 }, newKey);
  for (let i = 0; i < keys.length; i += 10)
    await Promise.all(keys.slice(i, i + 10).map((k, j) => store.put(k, { subscriptions: [`u${i + j}`] }, now + HOUR + (i + j) * 1_000)));
  const stale = newKey();
  await store.put(stale, { subscriptions: [] }, now + 20);
  await consul.api('PUT', `/v1/kv/mcpmesh/sessions/bounded/${newKey()}`, 'garbage');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal((await kvKeys('mcpmesh/sessions/bounded/')).length, 152);
  await store.sweep();
  const left = await kvKeys('mcpmesh/sessions/bounded/');
  assert.equal(left.length, 90, 'down to 90% of the bound: more than one transaction of 64');
  assert.ok(!left.includes(`mcpmesh/sessions/bounded/${stale}`));
  assert.deepEqual(new Set(left), new Set(keys.slice(-90).map((k) => `mcpmesh/sessions/bounded/${k}`)), 'the newest sessions are kept');
  // Under the bound a sweep only counts keys.
  await store.sweep();
  assert.equal((await kvKeys('mcpmesh/sessions/bounded/')).length, 90);
  assert.equal((await kvKeys('mcpmesh/sessions/tools/')).length, 0, 'other servers untouched');
  await store.close();
});

test('state store: sweeps by itself after sweepEvery writes', async () => {
  const now = Date.now();
  const store = new ConsulSessionStateStore({ http, server: 'self', maxEntries: 10, sweepEvery: 5 });
  for (let i = 0; i < 25; i++) await store.put(newKey(), { subscriptions: [] }, now + HOUR + i);
  await store.sweep();
  assert.ok((await kvKeys('mcpmesh/sessions/self/')).length <= 10);
  await store.close();
});
