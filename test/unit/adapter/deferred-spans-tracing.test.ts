// Call spans are recorded once the event loop turns after their calls end,
// all of them, also when one fails, and at once when the tracer stops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loggingErrorHandler, setGlobalErrorHandler } from '@opentelemetry/core';
import { DeferredSpans } from '../../../adapter/deferred-spans.js';

const turn = () => new Promise((r) => setImmediate(r));

test('spans are recorded after the I/O of the current turn, in the order their calls ended', async () => {
  const later = new DeferredSpans();
  const recorded: number[] = [];
  for (let i = 0; i < 3; i++) later.add({ record: () => recorded.push(i) });
  await Promise.resolve();
  assert.equal(recorded.length, 0, 'not before the event loop turns, not even after the microtasks');
  await turn();
  assert.deepEqual(recorded, [0, 1, 2]);
  later.add({ record: () => recorded.push(3) });
  await turn();
  assert.deepEqual(recorded, [0, 1, 2, 3], 'a later span gets its own turn');
});

test('flush records every waiting span now, and the scheduled turn then has nothing left', async () => {
  const later = new DeferredSpans();
  let n = 0;
  later.add({ record: () => n++ });
  later.add({ record: () => n++ });
  later.flush();
  assert.equal(n, 2);
  await turn();
  assert.equal(n, 2, 'none recorded twice');
});

test('a span that throws goes to the OpenTelemetry error handler; the others are recorded', async () => {
  const errors: unknown[] = [];
  setGlobalErrorHandler((e) => errors.push(e));
  try {
    const later = new DeferredSpans();
    let n = 0;
    later.add({ record: () => n++ });
    later.add({
      record: () => {
        throw new Error('refused');
      },
    });
    later.add({ record: () => n++ });
    await turn();
    assert.equal(n, 2);
    assert.equal((errors[0] as Error).message, 'refused');
  } finally {
    setGlobalErrorHandler(loggingErrorHandler());
  }
});
