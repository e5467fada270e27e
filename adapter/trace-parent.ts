// A `traceparent` read without a regular expression when it has the exact
// version-00 shape (what Envoy and nearly every agent send), the SDK's parser
// otherwise. On the path a sampled call's parse runs with cold caches, where
// the parser's regular expression cost about 15 µs and this loop a fraction of
// that (bench/RESULTS.md, "The sampled span on the path, and the unsampled request in Envoy").
import type { SpanContext } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';

const LENGTH = 55;
const DASH = 45;

/** '0'-'9', 'a'-'f' (W3C: lowercase only). */
function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/** Lowercase hex over [from, to), not all zeros. */
function isId(t: string, from: number, to: number): boolean {
  let nonZero = false;
  for (let i = from; i < to; i++) {
    const c = t.charCodeAt(i);
    if (!isHex(c)) return false;
    if (c !== 48) nonZero = true;
  }
  return nonZero;
}

/** The context a `traceparent` names, or null when it is invalid: what `parseTraceParent` returns, for every input. */
export function readTraceParent(t: string): SpanContext | null {
  // `00-` + 32 + `-` + 16 + `-` + 2: nothing else can match version 00 at this length (no room for the spaces the parser allows).
  if (t.length !== LENGTH || t.charCodeAt(0) !== 48 || t.charCodeAt(1) !== 48 || t.charCodeAt(2) !== DASH) return parseTraceParent(t);
  if (t.charCodeAt(35) !== DASH || t.charCodeAt(52) !== DASH) return null;
  if (!isId(t, 3, 35) || !isId(t, 36, 52)) return null;
  const f1 = t.charCodeAt(53);
  const f2 = t.charCodeAt(54);
  if (!isHex(f1) || !isHex(f2)) return null;
  const nibble = (c: number) => (c <= 57 ? c - 48 : c - 87);
  return { traceId: t.slice(3, 35), spanId: t.slice(36, 52), traceFlags: nibble(f1) * 16 + nibble(f2) };
}
