// The pool's timed queue on its own: bounded, arrival order, and one way out
// whatever takes an entry out (so no timer outlives its entry).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallQueue } from '../../../adapter/pool/call-queue.js';
import { until } from '../../support/wait.js';

function queue(capacity: number, timeoutMs = 60_000) {
  const expired: string[] = [];
  const q = new CallQueue<string>({ capacity, timeoutMs }, (entry) => {
    assert.equal(q.delete(entry), false, 'an expired entry is out of the queue before it is reported');
    expired.push(entry);
  });
  return { q, expired };
}

describe('call queue', () => {
  test('holds up to its capacity, in arrival order', () => {
    const { q } = queue(3);
    assert.equal(q.offer('a'), true);
    assert.equal(q.offer('b'), true);
    assert.equal(q.offer('c'), true);
    assert.equal(q.offer('d'), false, 'a full queue refuses');
    assert.equal(q.size, 3);
    assert.deepEqual([...q.entries()], ['a', 'b', 'c']);
    assert.deepEqual(q.takeAll(), ['a', 'b', 'c']);
  });

  test('a queue of capacity 0 refuses everything', () => {
    const { q } = queue(0);
    assert.equal(q.offer('a'), false);
    assert.equal(q.size, 0);
  });

  test('delete takes an entry out once, and frees its place', () => {
    const { q } = queue(2);
    q.offer('a');
    q.offer('b');
    assert.equal(q.delete('a'), true);
    assert.equal(q.delete('a'), false);
    assert.equal(q.delete('never queued'), false);
    assert.equal(q.offer('c'), true);
    assert.deepEqual([...q.entries()], ['b', 'c']);
    q.takeAll();
  });

  test('entries may be deleted while iterating', () => {
    const { q } = queue(10);
    for (const e of ['a', 'b', 'c', 'd', 'e']) q.offer(e);
    const seen: string[] = [];
    for (const e of q.entries()) {
      seen.push(e);
      if (e === 'b' || e === 'd') q.delete(e);
      if (e === 'a') q.delete('c');
    }
    assert.deepEqual(seen, ['a', 'b', 'd', 'e'], 'an entry deleted ahead of the loop is not visited');
    assert.deepEqual([...q.entries()], ['a', 'e']);
    q.takeAll();
  });

  test('an entry that waits past the timeout is taken out and reported once', async () => {
    const { q, expired } = queue(10, 20);
    q.offer('slow');
    q.offer('taken');
    q.delete('taken');
    await until(() => expired.length > 0, 'the expiry');
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(expired, ['slow'], 'a deleted entry never expires');
    assert.equal(q.size, 0);
  });

  test('takeAll empties the queue and no entry expires afterwards', async () => {
    const { q, expired } = queue(10, 20);
    q.offer('a');
    q.offer('b');
    assert.deepEqual(q.takeAll(), ['a', 'b']);
    assert.equal(q.size, 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(expired, []);
  });
});
