// Which session holds a slot's process: taken per exclusive call, ended with
// the last of them, and only by the session that holds it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExclusiveHolds } from '../../../adapter/pool/exclusive-holds.js';

const a = { slot: 0 };
const b = { slot: 0 };

test('a hold lasts until the last exclusive call of its session ends', () => {
  const holds = new ExclusiveHolds<{ slot: number }>(2);
  assert.equal(holds.holder(0), undefined);
  holds.take(0, a);
  holds.take(0, a);
  assert.equal(holds.holder(0), a);
  assert.equal(holds.holder(1), undefined, 'holds are per slot');
  holds.release(0, a);
  assert.equal(holds.holder(0), a);
  holds.release(0, a);
  assert.equal(holds.holder(0), undefined);
});

test('another session ending a call does not end the hold; clear ends it at once', () => {
  const holds = new ExclusiveHolds<{ slot: number }>(1);
  holds.take(0, a);
  holds.release(0, b);
  assert.equal(holds.holder(0), a);
  holds.clear(0);
  assert.equal(holds.holder(0), undefined);
  holds.take(0, b);
  holds.release(0, b);
  assert.equal(holds.holder(0), undefined, 'a cleared hold starts counting afresh');
});

test('slots outside the pool hold nothing', () => {
  const holds = new ExclusiveHolds<{ slot: number }>(1);
  holds.take(5, a);
  assert.equal(holds.holder(5), undefined);
});
