// The request body's decode: exactly what Buffer#toString('utf8') gives, for
// any characters, below and above the size where ICU's converter takes over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CONVERTER_MIN_BYTES, utf8Text } from '../../../adapter/protocol/utf8-text.js';

const RUNS = Math.min(200, Number(process.env['FUZZ_RUNS'] ?? 100));

test('any text decodes to itself, small or large, ASCII or not', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.boolean(), (unit, large) => {
      const text = large ? unit.repeat(Math.ceil(CONVERTER_MIN_BYTES / Buffer.byteLength(unit)) + 1) : unit;
      const bytes = Buffer.from(text);
      assert.equal(large, bytes.length >= CONVERTER_MIN_BYTES);
      assert.equal(utf8Text(bytes), bytes.toString('utf8'));
    }),
    { numRuns: RUNS },
  );
});

test('the large shapes: four-byte characters, one non-ASCII character at the end, pure ASCII, a view into a larger buffer', () => {
  const n = CONVERTER_MIN_BYTES;
  for (const text of ['😀'.repeat(n / 4), `${'x'.repeat(n)}é`, '\\"'.repeat(n / 2), `é${'\u{10ffff}\u0000\ufeff'.repeat(n / 8)}`]) {
    assert.equal(utf8Text(Buffer.from(text)), text);
  }
  // Past the converter's text pieces (512 KiB of UTF-16), with surrogate pairs across their boundaries.
  for (const unit of ['a😀', 'aa😀', '😀', 'é€']) {
    const text = unit.repeat(Math.ceil((1.5 * 1024 * 1024) / unit.length));
    assert.equal(utf8Text(Buffer.from(text)), text, unit);
  }
  const whole = Buffer.from(`ab${'é'.repeat(n)}cd`);
  const view = new Uint8Array(whole.buffer, whole.byteOffset + 2, whole.length - 4);
  assert.equal(utf8Text(view), 'é'.repeat(n));
});
