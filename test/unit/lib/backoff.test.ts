import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../../lib/backoff.js';

const policy = { baseMs: 100, maxMs: 1_000, jitter: 0.5 };

test('restart delays double from the base up to the cap', () => {
  const top = (n: number) => backoffDelay(policy, n, () => 1);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map(top), [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('jitter keeps each delay within [d·(1-jitter), d]', () => {
  for (let n = 1; n <= 6; n++) {
    const full = backoffDelay(policy, n, () => 1);
    for (const r of [0, 0.25, 0.999]) {
      const d = backoffDelay(policy, n, () => r);
      assert.ok(d >= full / 2 && d <= full, `${n} ${r} ${d}`);
    }
  }
  assert.equal(
    backoffDelay(policy, 1, () => 0),
    50,
  );
});
