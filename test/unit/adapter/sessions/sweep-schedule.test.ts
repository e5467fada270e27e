// SweepSchedule (adapter/sessions/sweep-schedule.ts): a sweep asked for while
// another runs is one that starts after the ask, so that it sees the writes
// made before it; asks that overlap share it.
import assert from 'node:assert/strict';
import test from 'node:test';
import { SweepSchedule } from '../../../../adapter/sessions/sweep-schedule.js';

/** A sweep that records when it starts and ends only when told to. */
function gatedSweeps(): { starts: number[]; release(): void; sweepOnce: () => Promise<void> } {
  const starts: number[] = [];
  let open: Array<() => void> = [];
  let clock = 0;
  return {
    starts,
    release() {
      const waiting = open;
      open = [];
      for (const r of waiting) r();
    },
    sweepOnce: () => {
      starts.push(++clock);
      return new Promise<void>((r) => open.push(r));
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a sweep asked for while one runs starts after that one, and overlapping asks share it', async () => {
  const g = gatedSweeps();
  const s = new SweepSchedule(g.sweepOnce, { every: 1000, intervalMs: 60_000, what: 'test' });
  const first = s.run();
  await tick();
  assert.equal(g.starts.length, 1);
  let secondDone = false;
  const second = s.run().then(() => {
    secondDone = true;
  });
  const third = s.run();
  await tick();
  // Not joined to the running sweep: nothing new has started yet, and the second ask is not answered by the first sweep.
  assert.equal(g.starts.length, 1);
  g.release();
  await first;
  await tick();
  assert.equal(secondDone, false, 'the second ask waits for a sweep of its own');
  assert.equal(g.starts.length, 2, 'one more sweep, shared by the two overlapping asks');
  g.release();
  await Promise.all([second, third]);
  assert.equal(g.starts.length, 2);
  await s.close();
});

test('a sweep that fails does not stop the one queued after it', async () => {
  let calls = 0;
  let fail: (e: Error) => void = () => undefined;
  const s = new SweepSchedule(
    () => {
      calls++;
      return calls === 1 ? new Promise<void>((_, rej) => (fail = rej)) : Promise.resolve();
    },
    { every: 1000, intervalMs: 60_000, what: 'test' },
  );
  const first = s.run();
  const second = s.run();
  fail(new Error('consul down'));
  await assert.rejects(first, /consul down/);
  await second;
  assert.equal(calls, 2);
  await s.close();
});

test('close waits for the queued sweep too', async () => {
  const g = gatedSweeps();
  const s = new SweepSchedule(g.sweepOnce, { every: 1000, intervalMs: 60_000, what: 'test' });
  void s.run();
  void s.run();
  let closed = false;
  const closing = s.close().then(() => {
    closed = true;
  });
  g.release();
  await tick();
  await tick();
  assert.equal(g.starts.length, 2);
  assert.equal(closed, false);
  g.release();
  await closing;
  assert.equal(closed, true);
});
