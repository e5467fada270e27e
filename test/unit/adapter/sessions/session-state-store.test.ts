import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DirectorySessionStateStore } from '../../../../adapter/sessions/session-state-dir-store.js';
import {
  decodeSessionRecord,
  encodeSessionRecord,
  MAX_SESSION_STATE_BYTES,
  MemorySessionStateStore,
  type SessionState,
  SessionStateError,
  type SessionStateStore,
} from '../../../../adapter/sessions/session-state-store.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;
const newKey = () => randomBytes(16).toString('base64url');
const STATE: SessionState = { logLevel: 'warning', subscriptions: ['file:///a', 'file:///b'] };

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpmesh-state-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('records: validated both ways, bounded, expired ones told apart', () => {
  const text = encodeSessionRecord(STATE, T0 + HOUR);
  assert.deepEqual(decodeSessionRecord(text, T0), { kind: 'ok', state: STATE, expiresAt: T0 + HOUR });
  assert.deepEqual(decodeSessionRecord(text, T0 + HOUR), { kind: 'expired' });
  for (const bad of [
    '',
    'null',
    '{',
    '{"v":1}',
    '{"v":2,"expiresAt":1,"state":{"subscriptions":[]}}',
    JSON.stringify({ v: 1, expiresAt: T0 + HOUR, state: { subscriptions: [], logLevel: 'loud' } }),
    JSON.stringify({ v: 1, expiresAt: T0 + HOUR, state: { subscriptions: [1] } }),
  ]) {
    assert.deepEqual(decodeSessionRecord(bad, T0), { kind: 'invalid' }, bad);
  }
  const refuse = (s: SessionState, code: string) =>
    assert.throws(
      () => encodeSessionRecord(s, T0),
      (e) => e instanceof SessionStateError && e.code === code,
    );
  refuse({ subscriptions: Array.from({ length: 257 }, (_, i) => `u${i}`) }, 'invalid_state');
  refuse({ subscriptions: ['x'.repeat(2049)] }, 'invalid_state');
  refuse({ subscriptions: [''] }, 'invalid_state');
  refuse({ subscriptions: Array.from({ length: 10 }, (_, i) => `${i}${'x'.repeat(2000)}`) }, 'too_large');
  assert.ok(
    encodeSessionRecord({ subscriptions: Array.from({ length: 7 }, (_, i) => `${i}${'x'.repeat(2000)}`) }, T0).length <=
      MAX_SESSION_STATE_BYTES,
  );
});

async function contract(store: SessionStateStore, clock: { now: number }): Promise<void> {
  const k = newKey();
  assert.equal(await store.get(k), undefined);
  await store.put(k, STATE, T0 + HOUR);
  assert.deepEqual(await store.get(k), STATE);
  await store.put(k, { subscriptions: [], ended: true }, T0 + HOUR);
  assert.deepEqual(await store.get(k), { subscriptions: [], ended: true });
  await store.delete(k);
  assert.equal(await store.get(k), undefined);
  await store.delete(k); // twice is fine
  const e = newKey();
  await store.put(e, STATE, T0 + 10);
  clock.now = T0 + 10;
  assert.equal(await store.get(e), undefined, 'expired');
  clock.now = T0;
  // Keys go into file names and KV paths.
  for (const bad of ['../../etc/passwd', 'short', `${newKey()}x`, `${newKey().slice(0, 21)}B`, '']) {
    await assert.rejects(store.get(bad), (err) => err instanceof SessionStateError && err.code === 'invalid_key', bad);
    await assert.rejects(store.put(bad, STATE, T0 + HOUR), SessionStateError);
  }
  await assert.rejects(store.put(newKey(), { subscriptions: ['x'.repeat(5000)] }, T0 + HOUR), SessionStateError);
}

test('memory store: the store contract', async () => {
  const clock = { now: T0 };
  await contract(new MemorySessionStateStore({ now: () => clock.now }), clock);
});

test('memory store: bounded, expired first, then oldest written', async () => {
  const clock = { now: T0 };
  const store = new MemorySessionStateStore({ maxEntries: 5, now: () => clock.now });
  const keys = Array.from({ length: 12 }, newKey);
  for (const [i, k] of keys.entries()) await store.put(k, STATE, T0 + HOUR + i);
  assert.equal(store.size, 5);
  assert.deepEqual(await store.get(keys[6]!), undefined);
  assert.deepEqual(await store.get(keys[7]!), STATE);
  await store.put(keys[7]!, STATE, T0 + HOUR); // rewritten: now the newest
  await store.put(newKey(), STATE, T0 + HOUR);
  assert.deepEqual(await store.get(keys[7]!), STATE);
  assert.equal(await store.get(keys[8]!), undefined);
  const copy = (await store.get(keys[7]!)) as { subscriptions: string[] };
  copy.subscriptions.push('mutated');
  assert.deepEqual(await store.get(keys[7]!), STATE, 'get returns a copy');
});

test('directory store: the store contract, 0600 files in a 0700 directory, no temporary file left', async () => {
  const clock = { now: T0 };
  const d = join(dir, 'contract', 'tools');
  const store = new DirectorySessionStateStore({ dir: d, now: () => clock.now });
  await contract(store, clock);
  const k = newKey();
  await store.put(k, STATE, T0 + HOUR);
  const files = await readdir(d);
  assert.deepEqual(files, [`${Buffer.from(k, 'base64url').toString('hex')}.json`]);
  assert.equal((await stat(join(d, files[0]!))).mode & 0o777, 0o600);
  assert.equal((await stat(d)).mode & 0o777, 0o700);
  assert.equal((await stat(join(d, files[0]!))).mtimeMs, T0 + HOUR, 'mtime is the expiry');
  // Another replica on the host sees it.
  const other = new DirectorySessionStateStore({ dir: d, now: () => clock.now });
  assert.deepEqual(await other.get(k), STATE);
  await store.close();
  await other.close();
});

test('directory store: a corrupt file reads as no state and is removed', async () => {
  const d = join(dir, 'corrupt');
  const store = new DirectorySessionStateStore({ dir: d, now: () => T0 });
  const k = newKey();
  await store.put(k, STATE, T0 + HOUR);
  const file = join(d, `${Buffer.from(k, 'base64url').toString('hex')}.json`);
  await writeFile(file, '{"v":1,"expiresAt":');
  assert.equal(await store.get(k), undefined);
  await assert.rejects(stat(file), /ENOENT/);
  await store.close();
});

test('directory store: bounded; a sweep removes expired and stale files, then the oldest sessions', async () => {
  const clock = { now: T0 };
  const d = join(dir, 'bounded');
  const store = new DirectorySessionStateStore({ dir: d, maxEntries: 10, sweepEvery: 1_000_000, now: () => clock.now });
  const keys = Array.from({ length: 30 }, newKey);
  for (const [i, k] of keys.entries()) await store.put(k, STATE, T0 + HOUR + i * 1_000);
  const expired = newKey();
  await store.put(expired, STATE, T0 + 5);
  await writeFile(join(d, 'unrelated.txt'), 'kept');
  const staleTmp = join(d, `.${'0'.repeat(32)}.1.abcdef01.tmp`);
  await writeFile(staleTmp, 'x');
  assert.equal((await readdir(d)).length, 33);
  clock.now = T0 + 100;
  await store.sweep();
  // ctime cannot be set back; the stale temporary file stays until a sweep 60 s after it was made.
  const left = (await readdir(d)).filter((n) => n.endsWith('.json'));
  assert.equal(left.length, 9, 'down to 90% of the bound');
  for (const k of keys.slice(-9)) assert.deepEqual(await store.get(k), STATE, 'the newest sessions are kept');
  assert.equal(await store.get(keys[20]!), undefined);
  assert.ok((await readdir(d)).includes('unrelated.txt'));
  clock.now = Date.now() + 61_000;
  await utimes(staleTmp, new Date(), new Date());
  await store.sweep();
  assert.ok(!(await readdir(d)).includes(staleTmp.slice(d.length + 1)));
  await store.close();
});

test('directory store: sweeps on its own after sweepEvery writes, so the count stays bounded under a flood', async () => {
  const d = join(dir, 'flood');
  const store = new DirectorySessionStateStore({ dir: d, maxEntries: 20, sweepEvery: 8, now: () => T0 });
  let max = 0;
  for (let i = 0; i < 200; i++) {
    await store.put(newKey(), STATE, T0 + HOUR + i);
    if (i % 8 === 7) await store.sweep(); // joins the sweep the 8th write started
    max = Math.max(max, (await readdir(d)).length);
  }
  assert.ok(max <= 20 + 8, `peaked at ${max}`);
  await store.close();
  const text = await readFile(join(d, (await readdir(d))[0]!), 'utf8');
  assert.equal(decodeSessionRecord(text, T0).kind, 'ok');
});
