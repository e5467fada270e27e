// readTraceParent decides and reads every traceparent as the SDK's parser
// does: the version-00 loop for its one shape, the parser for the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTraceParent } from '@opentelemetry/core';
import fc from 'fast-check';
import { readTraceParent } from '../../../adapter/trace-parent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

test('the version-00 shape: ids, flags and every way to be invalid, as the parser reads them', () => {
  const cases = [
    `00-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-00`,
    `00-${TRACE}-${PARENT}-ff`,
    `00-${'0'.repeat(32)}-${PARENT}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `00-${TRACE.toUpperCase()}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-0B`,
    `00-${TRACE}-${PARENT}-0g`,
    `00-${TRACE}_${PARENT}-01`,
    `00-${TRACE}-${PARENT}_01`,
    ` 00-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-01 `,
    `00-${TRACE}-${PARENT}-01-extra`,
    `01-${TRACE}-${PARENT}-01-extra`,
    `ff-${TRACE}-${PARENT}-01`,
    '',
    'garbage',
  ];
  for (const c of cases) assert.deepEqual(readTraceParent(c), parseTraceParent(c), JSON.stringify(c));
});

test('any string of traceparent characters at and around 55 characters: the same result as the parser', () => {
  const chars = fc.constantFrom(...'0123456789abcdefABF-g '.split(''));
  // Mostly near-valid headers (a valid one with a few characters changed), some free strings.
  const nearValid = fc
    .tuple(
      fc.constantFrom('00', '01', 'ff', '0a'),
      fc.stringMatching(/^[0-9a-f]{32}$/),
      fc.stringMatching(/^[0-9a-f]{16}$/),
      fc.stringMatching(/^[0-9a-f]{2}$/),
      fc.array(fc.tuple(fc.nat(56), chars), { maxLength: 2 }),
    )
    .map(([v, t, p, f, edits]) => {
      let s = `${v}-${t}-${p}-${f}`;
      for (const [at, c] of edits) s = s.slice(0, at % (s.length + 1)) + c + s.slice((at % (s.length + 1)) + 1);
      return s;
    });
  const free = fc.array(chars, { minLength: 50, maxLength: 60 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.oneof(nearValid, free), (s) => {
      assert.deepEqual(readTraceParent(s), parseTraceParent(s), JSON.stringify(s));
    }),
    { numRuns: 20_000 },
  );
});
