// The byte check of a server's large line on long strings: past a string's
// first bytes it tests four bytes at a time, and past a longer stretch it
// searches natively and tests the bytes before the hit for control bytes, so
// the property pieces strings together around those edges (plain runs
// shorter and longer than each, escapes, raw control bytes, non-ASCII) and
// reads the line at every alignment of its buffer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hasControlByte, scanJsonBytes } from '../../../adapter/protocol/json-scan.js';

const RUNS = Math.min(2_000, Number(process.env['FUZZ_RUNS'] ?? 300));

/** A piece of a string's raw JSON text: valid or not, as it comes. */
const piece = fc.oneof(
  fc.integer({ min: 1, max: 90 }).map((n) => 'x'.repeat(n)),
  // Past the word test's stretch, where the rest is searched natively.
  fc.integer({ min: 1_500, max: 5_000 }).map((n) => 'y'.repeat(n)),
  fc.integer({ min: 1, max: 40 }).map((n) => 'é€'.repeat(n)),
  fc.constantFrom('\\"', '\\\\', '\\n', '\\u00e9', '\\/', '\\uD83D\\uDE00'),
  fc.constantFrom('\\x', '\\u12', '\t', '\u0001', '\u001f', '\n', '"', '\\'),
);
const raw = fc.array(piece, { minLength: 1, maxLength: 12 }).map((ps) => ps.join(''));

function parses(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

test('long strings: the byte check accepts exactly what JSON.parse accepts, and reads the same members', () => {
  fc.assert(
    fc.property(raw, raw, fc.integer({ min: 0, max: 7 }), (a, b, shift) => {
      const text = `{"result":{"text":"${a}","more":["${b}",1]},"jsonrpc":"2.0","id":7}`;
      const inner = Buffer.from(text);
      // The same bytes at every offset of a larger buffer: the word check's alignment edges.
      const whole = Buffer.alloc(inner.length + 8, 0x20);
      inner.copy(whole, shift);
      const line = whole.subarray(shift, shift + inner.length);
      const parsed = parses(text) as Record<string, unknown> | undefined;
      const scan = scanJsonBytes(line);
      assert.equal(scan !== undefined, parsed !== undefined, text);
      if (scan === undefined || parsed === undefined) return;
      for (const [k, [s, e]] of scan.top) assert.deepEqual(JSON.parse(line.toString('utf8', s, e)), parsed[k]);
      const [rs, re] = scan.result!.get('text')!;
      assert.equal(JSON.parse(line.toString('utf8', rs, re)), (parsed['result'] as Record<string, unknown>)['text']);
    }),
    { numRuns: RUNS },
  );
});

test('a control byte anywhere in a long plain run is found, at any alignment', () => {
  for (let len = 30; len < 80; len++) {
    for (let at = 0; at < len; at += 7) {
      for (const ctl of [0x00, 0x09, 0x1f]) {
        const bytes = Buffer.from(`{"t":"${'y'.repeat(len)}"}`);
        bytes[6 + at] = ctl;
        assert.equal(scanJsonBytes(bytes), undefined, `len ${len} at ${at} byte ${ctl}`);
        for (let shift = 0; shift < 4; shift++) {
          const whole = Buffer.alloc(bytes.length + 4, 0x41);
          bytes.copy(whole, shift);
          assert.equal(hasControlByte(whole, shift, shift + bytes.length), true);
          assert.equal(hasControlByte(whole, shift + 6 + at + 1, shift + bytes.length), false);
        }
      }
    }
  }
});

test('a 4 MiB string of each shape: its span read back whole', () => {
  const MIB = 1024 * 1024;
  for (const t of ['é'.repeat(2 * MIB), 'ж'.repeat(2 * MIB), '"'.repeat(MIB), `${'a'.repeat(4 * MIB)}\\`, `\n${'b'.repeat(MIB)}`]) {
    const line = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { t } }));
    const scan = scanJsonBytes(line);
    assert.ok(scan !== undefined);
    const [s, e] = scan.result!.get('t')!;
    assert.equal(JSON.parse(line.toString('utf8', s, e)), t);
  }
  // Unterminated, and a raw tab deep inside: refused.
  assert.equal(scanJsonBytes(Buffer.from(`{"t":"${'a'.repeat(MIB)}`)), undefined);
  assert.equal(scanJsonBytes(Buffer.from(`{"t":"${'a'.repeat(MIB)}\t${'a'.repeat(MIB)}"}`)), undefined);
});

test('runs of two-byte escapes, read four bytes at a time: each escape checked, at every offset', () => {
  const simple = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'];
  for (let len = 1; len <= 24; len++) {
    const run = Array.from({ length: len }, (_, k) => simple[(k * 5 + len) % simple.length]!);
    for (let pad = 0; pad < 4; pad++) {
      const lead = 'p'.repeat(pad);
      const ok = `{"t":"${lead}${run.join('')}${lead}"}`;
      assert.deepEqual(JSON.parse(Buffer.from(ok).toString('utf8', ...scanJsonBytes(Buffer.from(ok))!.top.get('t')!)), JSON.parse(ok).t);
      // One escape in the run made invalid (or a raw control byte put in its place): refused.
      for (let bad = 0; bad < len; bad++) {
        for (const wrong of ['\\x', '\\u12', '\\\u0001', '\u0001\\']) {
          const text = `{"t":"${lead}${run.map((r, k) => (k === bad ? wrong : r)).join('')}"}`;
          assert.equal(scanJsonBytes(Buffer.from(text)), undefined, text);
        }
      }
    }
  }
});
