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
 * The UTF-16 is made text in pieces of this many bytes (even: whole code
 * units; a surrogate pair split between two pieces is whole again once they
 * are joined). Node makes a text above about 1 MB an external string, which
 * V8 counts as external memory: one per 4 MiB body set off a full collection
 * nearly every request (6 in 12 bench requests against 1; 30 ms more per
 * request). Pieces below that are V8 heap strings, joined by the first
 * reader (a flat copy).
 */
const PIECE_BYTES = 512 * 1024;

/** The text of `bytes`, which must be valid UTF-8 (the caller checked it). */
export function utf8Text(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  // ASCII is V8's fast case already. (Not latin1: a large latin1 text is made
  // an external string, which measured slower end to end than a heap string.)
  if (buf.length < CONVERTER_MIN_BYTES || isAscii(buf)) return buf.toString('utf8');
  // Node built without ICU has no converter.
  if (typeof transcode !== 'function') return buf.toString('utf8');
  const units = transcode(buf, 'utf8', 'ucs2');
  let text = '';
  for (let at = 0; at < units.length; at += PIECE_BYTES) text += units.toString('ucs2', at, Math.min(units.length, at + PIECE_BYTES));
  return text;
}
