import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readResumeCursor } from '../../../../adapter/http/event-replay.js';
import { DirectoryEventWindowStore } from '../../../../adapter/sessions/event-window-dir-store.js';
import {
  EventIds,
  eventTime,
  isEventId,
  MemoryEventWindowStore,
  type StoredEvent,
  trimWindow,
} from '../../../../adapter/sessions/event-window-store.js';

const key = () => randomBytes(16).toString('base64url');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('event ids', () => {
  test('ordered per writer, even within one millisecond; carry only the stream, a time and a counter', () => {
    let now = 1_700_000_000_000;
    const ids = new EventIds(() => now);
    const a = ids.next();
    const b = ids.next();
    now += 1;
    const c = ids.next();
    assert.ok(a < b && b < c);
    for (const id of [a, b, c]) assert.ok(isEventId(id), id);
    assert.equal(eventTime(a), 1_700_000_000_000);
    assert.match(a, /^g-01700000000000-0000001-[0-9a-f]{8}$/);
  });

  test('a Last-Event-ID is absent, one of ours, or invalid (never matched when long)', () => {
    assert.deepEqual(readResumeCursor(undefined), { kind: 'none' });
    assert.deepEqual(readResumeCursor(''), { kind: 'none' });
    const id = new EventIds().next();
    assert.deepEqual(readResumeCursor(id), { kind: 'after', id });
    for (const bad of ['5', 'g-1-2-3', `${id}x`, 'x'.repeat(10_000), 'p-01700000000000-0000001-00000000'])
      assert.deepEqual(readResumeCursor(bad), { kind: 'invalid' }, bad);
  });
});

describe('the replay window', () => {
  const now = 1_700_000_000_000;
  const ev = (t: number, seq: number, data = 'x'): StoredEvent => ({
    id: `g-${String(t).padStart(14, '0')}-${seq.toString(36).padStart(7, '0')}-00000000`,
    data,
  });

  test('bounded in age, events and bytes, keeping the newest', () => {
    const bounds = { maxEvents: 3, maxBytes: 10, maxAgeMs: 1_000 };
    const events = [ev(now - 2_000, 1), ev(now - 10, 2), ev(now - 9, 3), ev(now - 8, 4), ev(now - 7, 5)];
    assert.deepEqual(
      trimWindow(events, bounds, now).map((e) => e.id),
      [3, 4, 5].map((s, i) => ev(now - 9 + i, s).id),
    );
    const big = [ev(now - 3, 1, 'aaaa'), ev(now - 2, 2, 'bbbb'), ev(now - 1, 3, 'cccc')];
    assert.deepEqual(
      trimWindow(big, bounds, now).map((e) => e.data),
      ['bbbb', 'cccc'],
    );
  });

  test('memory: windows per session, the oldest windows out beyond maxWindows', async () => {
    const store = new MemoryEventWindowStore({ maxWindows: 2 });
    const [k1, k2, k3] = [key(), key(), key()];
    const ids = new EventIds();
    await store.append(k1, { id: ids.next(), data: '1' });
    await store.append(k2, { id: ids.next(), data: '2' });
    await store.append(k3, { id: ids.next(), data: '3' });
    assert.equal(store.size, 2);
    await store.discard(k2);
    assert.equal(store.size, 1);
    assert.deepEqual(await store.list(k1), []);
    assert.deepEqual(
      (await store.list(k3)).map((e) => e.data),
      ['3'],
    );
    await assert.rejects(store.append('not-a-key', { id: ids.next(), data: '' }));
  });

  test('directory: two replicas append to one window and both events land, in order; trimmed and swept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-events-'));
    dirs.push(dir);
    let clock = Date.now();
    const bounds = { maxEvents: 4, maxBytes: 1024, maxAgeMs: 60_000 };
    const a = new DirectoryEventWindowStore({ dir, bounds, now: () => clock, sweepEvery: 1_000 });
    const b = new DirectoryEventWindowStore({ dir, bounds, now: () => clock, sweepEvery: 1_000 });
    const idsA = new EventIds(() => clock);
    const idsB = new EventIds(() => clock);
    const k = key();
    await Promise.all([a.append(k, { id: idsA.next(), data: 'a1' }), b.append(k, { id: idsB.next(), data: 'b1' })]);
    clock += 1;
    await a.append(k, { id: idsA.next(), data: 'a2' });
    const seen = (await b.list(k)).map((e) => e.data);
    assert.deepEqual([...seen].sort(), ['a1', 'a2', 'b1']);
    assert.equal(seen[2], 'a2');
    for (let i = 0; i < 6; i++) {
      clock += 1;
      await b.append(k, { id: idsB.next(), data: `b${i + 2}` });
    }
    assert.deepEqual(
      (await a.list(k)).map((e) => e.data),
      ['b4', 'b5', 'b6', 'b7'],
    );
    const windowDir = join(dir, Buffer.from(k, 'base64url').toString('hex'));
    assert.equal(readdirSync(windowDir).length, 4, 'older events are removed, not only hidden');
    assert.equal(statSync(windowDir).mode & 0o777, 0o700);
    // Past the age bound: the window is empty and the sweep removes it.
    clock += 120_000;
    assert.deepEqual(await a.list(k), []);
    await a.sweep();
    assert.equal(readdirSync(dir).includes(Buffer.from(k, 'base64url').toString('hex')), false);
    // A session ended by its client: its window goes at once.
    clock = Date.now();
    const ended = key();
    await a.append(ended, { id: idsA.next(), data: 'private' });
    assert.equal((await b.list(ended)).length, 1);
    await b.discard(ended);
    assert.deepEqual(await a.list(ended), []);
    assert.equal(readdirSync(dir).includes(Buffer.from(ended, 'base64url').toString('hex')), false);
    await a.close();
    await b.close();
  });
});
