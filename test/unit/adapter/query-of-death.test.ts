import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { judgeDeath, QueryOfDeathRegistry, requestFingerprint } from '../../../adapter/pool/query-of-death.js';

function registry() {
  let now = 1_000;
  const r = new QueryOfDeathRegistry(60_000, 8, () => now);
  return { r, advance: (ms: number) => (now += ms) };
}

test('a request never answered here is not excused, and its second strike reports a repeat', () => {
  const { r } = registry();
  assert.equal(r.excusedByEarlierAnswer('a'), false);
  assert.equal(r.strike('a'), false);
  assert.equal(r.strike('a'), true);
});

test('each answer earns one excuse: a flaky server, not a killer', () => {
  const { r } = registry();
  r.recordAnswered('a');
  assert.equal(r.excusedByEarlierAnswer('a'), true);
  // The excuse is spent and counted as a strike: failing again with no answer between is a repeat.
  assert.equal(r.excusedByEarlierAnswer('a'), false);
  assert.equal(r.strike('a'), true);
  // Two processes of a pool dying together after two answers are both excused.
  r.recordAnswered('b');
  r.recordAnswered('b');
  assert.equal(r.excusedByEarlierAnswer('b'), true);
  assert.equal(r.excusedByEarlierAnswer('b'), true);
  assert.equal(r.excusedByEarlierAnswer('b'), false);
});

test('a request that turned deadly spends at most four excuses', () => {
  const { r } = registry();
  for (let i = 0; i < 100; i++) r.recordAnswered('a');
  let excused = 0;
  while (r.excusedByEarlierAnswer('a')) excused++;
  assert.equal(excused, 4);
  assert.equal(r.strike('a'), true, 'the next failure is a repeat');
});

test('an answer between two failures forgives the first', () => {
  const { r } = registry();
  r.recordAnswered('a');
  assert.equal(r.excusedByEarlierAnswer('a'), true);
  r.recordAnswered('a');
  assert.equal(r.excusedByEarlierAnswer('a'), true);
  r.strike('b');
  r.recordAnswered('b');
  assert.equal(r.strike('b'), false, 'the answer cleared the earlier strike');
});

test('an answer is remembered for the TTL only, and the memory is bounded', () => {
  const { r, advance } = registry();
  r.recordAnswered('old');
  advance(60_001);
  assert.equal(r.excusedByEarlierAnswer('old'), false);
  for (let i = 0; i < 20; i++) r.recordAnswered(`k${i}`);
  assert.equal(r.excusedByEarlierAnswer('k0'), false, 'the oldest went first');
  assert.equal(r.excusedByEarlierAnswer('k19'), true);
});

test('a poisoned request stays refused for the TTL', () => {
  const { r, advance } = registry();
  r.poison('a', 'it killed its process');
  assert.equal(r.poisonedWhy('a'), 'it killed its process');
  advance(60_001);
  assert.equal(r.poisonedWhy('a'), undefined);
});

test('a death judges each distinct request once: copies share a verdict', () => {
  const { r } = registry();
  r.recordAnswered('x');
  // Three clients sent the same answered-before request when a flaky process died.
  const copies = [1, 2, 3].map(() => ({ fingerprint: 'x', retried: false }));
  assert.deepEqual([...judgeDeath(r, copies)], [['x', { guilty: false, suspect: false }]], 'excused: not a suspect');
  // A killer sent by several clients at once is still alone on its process.
  const killer = judgeDeath(
    r,
    [1, 2].map(() => ({ fingerprint: 'k', retried: false })),
  );
  assert.deepEqual(killer.get('k'), { guilty: true, why: 'it was the only call in flight', remembered: false });
});

test('a death with other requests in flight: innocent on a first strike, guilty when retried or struck before', () => {
  const { r } = registry();
  const first = judgeDeath(r, [
    { fingerprint: 'a', retried: false },
    { fingerprint: 'b', retried: true },
  ]);
  assert.deepEqual(first.get('a'), { guilty: false, suspect: true });
  assert.equal(first.get('b')?.guilty, true);
  const second = judgeDeath(r, [
    { fingerprint: 'a', retried: false },
    { fingerprint: 'c', retried: false },
  ]);
  assert.deepEqual(second.get('a'), { guilty: true, why: 'it was in flight when a process failed before', remembered: true });
  assert.deepEqual(second.get('c'), { guilty: false, suspect: true });
});

test('a fingerprint is the method and params text when short, else its SHA-256: equal for equal requests only', () => {
  assert.equal(requestFingerprint('tools/call', '{"name":"echo"}'), 'tools/call\n{"name":"echo"}');
  assert.notEqual(requestFingerprint('tools/call', '{"name":"echo"}'), requestFingerprint('tools/call', '{"name":"echo" }'));
  for (const [method, params] of [
    ['tools/call', `{"name":"echo","arguments":{"message":"${'x'.repeat(300)}"}}`],
    ['resources/read', `{"uri":"file:///ä/€/😀/${'y'.repeat(300)}"}`],
  ] as const) {
    const expected = createHash('sha256').update(`${method}\n${params}`, 'utf8').digest('base64url');
    assert.equal(requestFingerprint(method, params), expected);
    assert.equal(requestFingerprint(method, params).includes('\n'), false, 'a digest never looks like a verbatim fingerprint');
  }
});
