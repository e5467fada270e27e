// The request body's decode: exactly what Buffer#toString('utf8') gives, for
// any characters, below and above the size where ICU's converter takes over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CONVERTER_MIN_BYTES, isLatin1Text, utf8Text } from '../../../adapter/protocol/utf8-text.js';

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

test('Latin-1 text is told from the rest exactly, at every alignment of its buffer', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 24 }), fc.integer({ min: 0, max: 3 }), (text, shift) => {
      const bytes = Buffer.from(text);
      const whole = Buffer.alloc(bytes.length + 4, 0x61);
      bytes.copy(whole, shift);
      const view = whole.subarray(shift, shift + bytes.length);
      assert.equal(
        isLatin1Text(view),
        [...text].every((c) => c.codePointAt(0)! <= 0xff),
        JSON.stringify(text),
      );
    }),
    { numRuns: RUNS * 5 },
  );
  // Leads C2 and C3 are Latin-1, C4 (U+0100) and every longer lead are not; each at each place in a word.
  for (const cp of [0x80, 0xbf, 0xc0, 0xff, 0x100, 0x13f, 0x140, 0x17f, 0x7ff, 0x800, 0xffff, 0x10000]) {
    for (let pad = 0; pad < 4; pad++) {
      const text = `${'a'.repeat(pad)}${String.fromCodePoint(cp)}${'b'.repeat(9)}`;
      assert.equal(isLatin1Text(Buffer.from(text)), cp <= 0xff, cp.toString(16));
    }
  }
});

test('large Latin-1 text, and Latin-1 text with one character past it at the end, decode to themselves', () => {
  const n = CONVERTER_MIN_BYTES;
  for (const text of [
    'é'.repeat(n),
    `${'ÿ\u0080x'.repeat(n / 2)}`,
    `${'é'.repeat(n)}Ā`,
    `${'é'.repeat(n)}😀`,
    `a${'\u00a0é'.repeat(700_000)}`,
  ]) {
    assert.equal(utf8Text(Buffer.from(text)), text);
  }
});
