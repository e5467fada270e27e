// Text of bytes already checked as UTF-8 (isUtf8), decoded exactly and in
// time linear in their size at a few bytes per nanosecond whatever the
// characters: V8's own UTF-8 decoder (Buffer#toString) walks every non-ASCII
// character slowly (17 ms for 4 MiB of "é" on the bench machine), ICU's
// converter does the same body in under 2 ms. Small bodies keep the plain
// decode: the converter's fixed cost is larger than its gain there.
import { isAscii, transcode } from 'node:buffer';

/** From this many bytes on a non-ASCII body goes through ICU's converter. */
export const CONVERTER_MIN_BYTES = 64 * 1024;

/**
 * The converted text is made a string in pieces of this many bytes (even:
 * whole UTF-16 code units; a surrogate pair split between two pieces is
 * whole again once they are joined). Node makes a text above about 1 MB an
 * external string, which V8 counts as external memory: one per 4 MiB body
 * set off a full collection nearly every request (6 in 12 bench requests
 * against 1; 30 ms more per request). Pieces below that are V8 heap strings,
 * joined by the first reader (a flat copy).
 */
const PIECE_BYTES = 512 * 1024;

const HIGH_BITS = 0x80808080 | 0;
const LOW_SIX = 0x3c3c3c3c;
const PAST_THREE = 0x7c7c7c7c;

/**
 * Whether valid UTF-8 `b` encodes only characters up to U+00FF (Latin-1),
 * four bytes at a time: a byte of 0xC4 or more leads every longer encoding,
 * and is a byte whose top two bits are set and whose bits 2–5 are not all
 * clear (0xC0 and 0xC1 never occur in valid UTF-8).
 */
export function isLatin1Text(b: Uint8Array): boolean {
  const n = b.length;
  let i = 0;
  const head = Math.min(n, (4 - (b.byteOffset & 3)) & 3);
  for (; i < head; i++) if (b[i]! >= 0xc4) return false;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const w = new Int32Array(b.buffer, b.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const x = w[k]!;
      // Per byte: top bit (bit 7 and bit 6, shifted up) and "bits 2-5 >= 1" (adding 0x7C carries into bit 7).
      if ((x & (x << 1) & (((x & LOW_SIX) + PAST_THREE) | 0) & HIGH_BITS) !== 0) return false;
    }
    i += words << 2;
  }
  for (; i < n; i++) if (b[i]! >= 0xc4) return false;
  return true;
}

/** The text of `bytes`, which must be valid UTF-8 (the caller checked it). */
export function utf8Text(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  // ASCII is V8's fast case already. (Not latin1: a large latin1 text is made
  // an external string, which measured slower end to end than a heap string,
  // and in pieces it is a copy more than V8's decode.)
  if (buf.length < CONVERTER_MIN_BYTES || isAscii(buf)) return buf.toString('utf8');
  // Node built without ICU has no converter.
  if (typeof transcode !== 'function') return buf.toString('utf8');
  // Latin-1 text (accented Western European letters) fits a one-byte string:
  // half the memory of UTF-16 for the text, the parse's copy and the converter's output.
  if (isLatin1Text(buf)) return inPieces(transcode(buf, 'utf8', 'latin1'), 'latin1');
  return inPieces(transcode(buf, 'utf8', 'ucs2'), 'ucs2');
}

function inPieces(converted: Buffer, encoding: 'latin1' | 'ucs2'): string {
  let text = '';
  for (let at = 0; at < converted.length; at += PIECE_BYTES)
    text += converted.toString(encoding, at, Math.min(converted.length, at + PIECE_BYTES));
  return text;
}
