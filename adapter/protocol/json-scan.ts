// Linear scans of JSON text, for the few places where the adapter must find
// a member in a message without re-serialising it (id rewriting, progress
// tokens, fingerprints): every function here reads each character a bounded
// number of times, iteratively (no recursion, so no depth limit of its own),
// and so costs time linear in the text whatever its shape. The string
// functions expect text that JSON.parse accepted; `scanJsonBytes` checks a
// server's raw line itself, for lines too large to parse into objects.

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const COMMA = 44;
const COLON = 58;

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export function skipWs(t: string, i: number): number {
  while (i < t.length && isWs(t.charCodeAt(i))) i++;
  return i;
}

/** Index after the string that opens at `i` (a quote); -1 if it never closes. */
export function skipString(t: string, i: number): number {
  const from = i + 1;
  const q = t.indexOf('"', from);
  if (q < 0) return -1;
  // Backslashes right before the quote, counted back no further than `from`.
  let b = q - 1;
  while (b >= from && t.charCodeAt(b) === BACKSLASH) b--;
  if ((q - 1 - b) % 2 === 0) return q + 1;
  return escapedStringEnd(t, b + 1);
}

/**
 * The string's end from `j`, a backslash inside it, a character at a time: a
 * search per quote costs far more than a step per character in a string
 * dense with escaped quotes (4 MiB of \" is two million searches).
 */
function escapedStringEnd(t: string, j: number): number {
  const n = t.length;
  for (let k = j; k < n; k++) {
    const c = t.charCodeAt(k);
    if (c === BACKSLASH) k++;
    else if (c === QUOTE) return k + 1;
  }
  return -1;
}

/** Index after the JSON value that starts at `i` (no leading whitespace). */
export function skipValue(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) return skipString(t, i);
  if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
    let j = i;
    while (j < t.length) {
      const d = t.charCodeAt(j);
      if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isWs(d)) break;
      j++;
    }
    return j;
  }
  let depth = 0;
  let j = i;
  while (j < t.length) {
    const d = t.charCodeAt(j);
    if (d === QUOTE) {
      j = skipString(t, j);
      if (j < 0) return -1;
      continue;
    }
    if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
    else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

export interface Member {
  readonly key: string;
  /** The value: [start, end). */
  readonly start: number;
  readonly end: number;
}

/**
 * Calls `visit` for each member of the object at `at` (its `{`), in order;
 * `visit` returning false stops. Keys are decoded (escapes too). Returns the
 * number of members visited, or -1 when `at` is not an object.
 */
export function eachMember(t: string, at: number, visit: (key: string, start: number, end: number) => boolean | undefined): number {
  if (t.charCodeAt(at) !== OPEN_BRACE) return -1;
  let i = skipWs(t, at + 1);
  if (t.charCodeAt(i) === CLOSE_BRACE) return 0;
  let n = 0;
  for (;;) {
    if (t.charCodeAt(i) !== QUOTE) return -1;
    const keyEnd = skipString(t, i);
    if (keyEnd < 0) return -1;
    const raw = t.slice(i + 1, keyEnd - 1);
    const key = raw.includes('\\') ? (JSON.parse(t.slice(i, keyEnd)) as string) : raw;
    i = skipWs(t, keyEnd);
    if (t.charCodeAt(i) !== COLON) return -1;
    const start = skipWs(t, i + 1);
    const end = skipValue(t, start);
    if (end < 0) return -1;
    n++;
    if (visit(key, start, end) === false) return n;
    i = skipWs(t, end);
    const c = t.charCodeAt(i);
    if (c === CLOSE_BRACE) return n;
    if (c !== COMMA) return -1;
    i = skipWs(t, i + 1);
  }
}

/**
 * The value span of member `key` of the object at `at`: the last one, as
 * JSON.parse keeps the last of duplicate keys; undefined if absent.
 */
export function findMember(t: string, at: number, key: string): Member | undefined {
  let found: Member | undefined;
  eachMember(t, at, (k, start, end) => {
    if (k === key) found = { key, start, end };
  });
  return found;
}

/**
 * Whether the key whose string spans [ks, ke) (quotes included) is `key`,
 * compared in place: no string is made unless the key has escapes and could
 * decode to `key` (an escape is at most 6 characters for one).
 */
export function keyIs(t: string, ks: number, ke: number, key: string): boolean {
  const rawLength = ke - ks - 2;
  if (rawLength === key.length) return t.startsWith(key, ks + 1);
  if (rawLength < key.length || rawLength > key.length * 6) return false;
  const raw = t.slice(ks + 1, ke - 1);
  return raw.includes('\\') && (JSON.parse(t.slice(ks, ke)) as string) === key;
}

/**
 * Walks the members of the object at `at` (its `{`): `value(ks, ke, vs)`
 * gets each key's span and where its value starts, consumes the value and
 * returns the index after it (-1: invalid). Returns the index after the
 * object's `}`, or -1.
 */
export function walkMembers(t: string, at: number, value: (ks: number, ke: number, vs: number) => number): number {
  if (t.charCodeAt(at) !== OPEN_BRACE) return -1;
  let i = skipWs(t, at + 1);
  if (t.charCodeAt(i) === CLOSE_BRACE) return i + 1;
  for (;;) {
    if (t.charCodeAt(i) !== QUOTE) return -1;
    const ke = skipString(t, i);
    if (ke < 0) return -1;
    const colon = skipWs(t, ke);
    if (t.charCodeAt(colon) !== COLON) return -1;
    const end = value(i, ke, skipWs(t, colon + 1));
    if (end < 0) return -1;
    i = skipWs(t, end);
    const c = t.charCodeAt(i);
    if (c === CLOSE_BRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipWs(t, i + 1);
  }
}

/** Where a request's id and progress token are (the members JSON.parse reads: the last of duplicates). */
export interface RequestSpans {
  readonly id: Member | undefined;
  /** params._meta.progressToken. */
  readonly progressToken: Member | undefined;
  /** The top-level params value (the query-of-death fingerprint reads its text). */
  readonly params: Member | undefined;
}

/** Which member of the path id / params._meta.progressToken a key names. */
enum PathKey {
  None = 0,
  Id = 1,
  Params = 2,
  Meta = 3,
  Token = 4,
}

/** What one pass over a request's text found: the depth verdict and, unless it is refused, the spans. */
export interface RequestScan {
  /** Deeper than the bound, or more containers than allowed (the scan stopped there). */
  readonly tooDeep: boolean;
  /** Undefined when the text is not one object (or too deep). */
  readonly spans: RequestSpans | undefined;
}

/** No bound: a small integer, so the comparisons in the loop stay integer ones. */
const NO_BOUND = 0x3fffffff;
const NO_SPANS: RequestScan = { tooDeep: false, spans: undefined };
const TOO_DEEP: RequestScan = { tooDeep: true, spans: undefined };

/**
 * The depth check of `nestsDeeperThan` and the spans of `requestSpans` in one
 * loop over the characters (strings skipped whole): a key is a string a colon
 * follows, and only keys of the three objects on the path (the top level,
 * its `params`, their `_meta`) are compared, so each character is read about
 * once and no callback runs per member. Expects text that JSON.parse accepts
 * (what it finds in other text is meaningless, not unsafe: the parse refuses).
 */
export function scanRequest(t: string, maxDepth = NO_BOUND, maxContainers = NO_BOUND): RequestScan {
  const n = t.length;
  const first = skipWs(t, 0);
  const isObject = t.charCodeAt(first) === OPEN_BRACE;
  let depth = 0;
  const count = { containers: 0, max: maxContainers };
  // The object at depth 2 is the top-level `params`; the one at depth 3 its `_meta`.
  let inParams = false;
  let inMeta = false;
  let id: Member | undefined;
  let token: Member | undefined;
  let params: Member | undefined;
  let paramsStart = -1;
  // A path key was just read: its value is next.
  let pending = PathKey.None;
  for (let i = first; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c === QUOTE) {
      const end = skipString(t, i);
      if (end < 0) return NO_SPANS;
      if (pending !== PathKey.None) {
        if (pending === PathKey.Id) id = span('id', i, end);
        else if (pending === PathKey.Token) token = span('progressToken', i, end);
        else if (pending === PathKey.Params) params = span('params', i, end);
        pending = PathKey.None;
      } else if (depth === 1 || (depth === 2 && inParams) || (depth === 3 && inMeta)) {
        const colon = skipWs(t, end);
        if (t.charCodeAt(colon) === COLON) {
          pending = pathKey(t, i, end, depth);
          // A later params or _meta replaces an earlier one, as in JSON.parse.
          if (pending === PathKey.Params || pending === PathKey.Meta) token = undefined;
          if (pending === PathKey.Params) params = undefined;
          i = colon;
          continue;
        }
      }
      i = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth || ++count.containers > maxContainers) return TOO_DEEP;
      const onPath = c === OPEN_BRACE && (depth === 1 || pending === PathKey.Params || pending === PathKey.Meta);
      if (onPath) {
        if (pending === PathKey.Params) {
          inParams = true;
          paramsStart = i;
        } else if (pending === PathKey.Meta) inMeta = true;
        pending = PathKey.None;
        continue;
      }
      // Off the path: to its end with the depth count alone (no key is compared in there).
      const j = skipContainer(t, i, depth, maxDepth, count);
      if (j === UNTERMINATED) return NO_SPANS;
      if (j === OVER_BOUND) return TOO_DEEP;
      depth--;
      if (pending === PathKey.Id) id = span('id', i, j + 1);
      else if (pending === PathKey.Token) token = span('progressToken', i, j + 1);
      else if (pending === PathKey.Params) params = span('params', i, j + 1);
      pending = PathKey.None;
      i = j;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 1) {
        // Only path objects close here (other containers are skipped whole): this is params' brace.
        if (inParams) params = span('params', paramsStart, i + 1);
        inParams = false;
      } else if (depth === 2) inMeta = false;
    } else if (pending !== PathKey.None && !isWs(c) && c !== COLON) {
      // A number, true, false or null: up to the next delimiter.
      let j = i;
      while (j < n) {
        const d = t.charCodeAt(j);
        if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isWs(d)) break;
        j++;
      }
      if (pending === PathKey.Id) id = span('id', i, j);
      else if (pending === PathKey.Token) token = span('progressToken', i, j);
      else if (pending === PathKey.Params) params = span('params', i, j);
      pending = PathKey.None;
      i = j - 1;
    }
  }
  if (!isObject || depth !== 0) return NO_SPANS;
  return { tooDeep: false, spans: { id, progressToken: token, params } };
}

const UNTERMINATED = -1;
const OVER_BOUND = -2;

/**
 * Index of the bracket that closes the container opening at `at` (at
 * `depth`), counting the containers inside into `count`; UNTERMINATED or
 * OVER_BOUND. Its own small function: the loop most bodies spend their
 * characters in is compiled early and on its own.
 */
function skipContainer(
  t: string,
  at: number,
  depth: number,
  maxDepth: number,
  count: { containers: number; readonly max: number },
): number {
  const n = t.length;
  const max = count.max;
  let containers = count.containers;
  let d = depth;
  for (let j = at + 1; j < n; j++) {
    const c = t.charCodeAt(j);
    if (c === QUOTE) {
      const end = skipString(t, j);
      if (end < 0) return UNTERMINATED;
      j = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++d > maxDepth || ++containers > max) return OVER_BOUND;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--d === depth - 1) {
        count.containers = containers;
        return j;
      }
    }
  }
  return UNTERMINATED;
}

function span(key: string, start: number, end: number): Member {
  return { key, start, end };
}

/** Which path member the key spanning [ks, ke) is, for an object at `depth` on the path. */
function pathKey(t: string, ks: number, ke: number, depth: number): PathKey {
  if (depth === 1) return keyIs(t, ks, ke, 'id') ? PathKey.Id : keyIs(t, ks, ke, 'params') ? PathKey.Params : PathKey.None;
  if (depth === 2) return keyIs(t, ks, ke, '_meta') ? PathKey.Meta : PathKey.None;
  return keyIs(t, ks, ke, 'progressToken') ? PathKey.Token : PathKey.None;
}

/**
 * The spans of a request's top-level `id` and of `params._meta.progressToken`,
 * in one pass over the text (`scanRequest` without a bound). Undefined when
 * the text is not one object.
 */
export function requestSpans(t: string): RequestSpans | undefined {
  return scanRequest(t).spans;
}

/** Index of the first non-whitespace character: where the top-level value starts. */
export function valueStart(t: string): number {
  return skipWs(t, 0);
}

/**
 * Whether any array or object in `t` nests deeper than `max` levels (the
 * top-level object is level 1), or `t` holds more than `maxContainers` arrays
 * and objects (each one costs JSON.parse an allocation: 4 MiB of `[]` is two
 * million of them). Strings are skipped whole. The request path calls
 * `scanRequest` itself, to keep the spans the same pass finds.
 */
export function nestsDeeperThan(t: string, max: number, maxContainers = NO_BOUND): boolean {
  return scanRequest(t, max, maxContainers).tooDeep;
}

// ---- raw bytes: a server's large line ----

/** What a byte scan of one JSON-RPC response line found, as byte offsets. */
export interface ResponseScan {
  /** Top-level members: key → value span (the last of duplicates). */
  readonly top: ReadonlyMap<string, readonly [number, number]>;
  /** Direct members of a `result` object: key → value span. */
  readonly result: ReadonlyMap<string, readonly [number, number]> | undefined;
}

/**
 * A string's bytes are read one at a time until this many plain ones (no
 * quote, backslash or control byte) run in a row; then four at a time
 * (`plainUpTo`): a short string's loop is cheaper than the switch, and a
 * string dense with escapes never gets there.
 */
const SEARCH_AFTER = 32;

/**
 * One line's views, made once per line, and what its scan has learnt ahead
 * of its position: the next quote and the next backslash at or after where
 * they were last searched from (the line's length: none), so that every
 * byte is searched once whatever the number of strings.
 */
interface Marks {
  readonly buf: Buffer;
  /** The line's bytes four at a time, at any offset (runs of escapes). */
  readonly view: DataView;
  /** The line's aligned words (control bytes), made once per line: from byte `wordsFrom` on. */
  readonly words: Int32Array;
  readonly wordsFrom: number;
  quote: number;
  backslash: number;
}

/**
 * Index after the JSON string that opens at `at` (a quote) in `b`, checked
 * (escapes, no control characters); -1 if invalid. Small, so that it is
 * inlined where the scan reads a string: most strings are short keys.
 */
function stringEnd(b: Uint8Array, at: number, marks: Marks): number {
  const n = b.length;
  let i = at + 1;
  const stop = Math.min(i + SEARCH_AFTER, n);
  while (i < stop) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH || c < 0x20) break;
    i++;
  }
  return restOfString(b, i, marks);
}

/**
 * The rest of a string from `from`: a byte at a time through escapes, and
 * once SEARCH_AFTER plain bytes run in a row, searched on (`plainUpTo`).
 */
function restOfString(b: Uint8Array, from: number, marks: Marks): number {
  const n = b.length;
  let i = from;
  let left = SEARCH_AFTER;
  while (i < n) {
    const c = b[i]!;
    if (c === BACKSLASH) {
      // A run of two-byte escapes (\" \\ \n …) four bytes at a time.
      const view = marks.view;
      while (i + 4 <= n) {
        const w = view.getUint32(i, true);
        if ((w & 0x00ff00ff) !== 0x005c005c || SIMPLE_ESCAPE[(w >>> 8) & 0xff] === 0 || SIMPLE_ESCAPE[w >>> 24] === 0) break;
        i += 4;
      }
      if (b[i] !== BACKSLASH) {
        left = SEARCH_AFTER;
        continue;
      }
      const e = b[i + 1];
      if (e === QUOTE || e === BACKSLASH || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) i += 2;
      else if (e === 117 && isHex4(b, i + 2)) i += 6;
      else return -1;
      left = SEARCH_AFTER;
    } else if (c === QUOTE) return i + 1;
    else if (c < 0x20) return -1;
    else if (--left > 0) i++;
    else {
      i = plainUpTo(b, i + 1, marks);
      if (i < 0) return -1;
      left = SEARCH_AFTER;
    }
  }
  return -1;
}

/** 1 for the bytes that follow a backslash in a two-byte escape: the quote, backslash, slash, b f n r t. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

/** Whether the four bytes from `at` are hexadecimal digits. */
function isHex4(b: Uint8Array, at: number): boolean {
  for (let k = at; k < at + 4; k++) {
    const h = b[k];
    if (h === undefined || !((h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102))) return false;
  }
  return true;
}

/** Past this many plain bytes a string is searched natively: the search's fixed cost is then repaid. */
const NATIVE_AFTER = 2048;

/**
 * The next quote, backslash or control byte from `i`, or the line's length:
 * words of four bytes tested at once (quote, backslash and control bytes
 * alike, exact as a yes or no), and past NATIVE_AFTER bytes the next quote
 * and backslash searched natively (each byte once per line through `marks`)
 * with the bytes before them tested for control bytes only. -1 when a
 * control byte comes first (the string is invalid).
 */
function plainUpTo(b: Uint8Array, i: number, marks: Marks): number {
  const n = b.length;
  const base = marks.wordsFrom;
  const words = marks.words;
  while (i < n && (i < base || ((i - base) & 3) !== 0)) {
    const c = b[i]!;
    if (c === QUOTE || c === BACKSLASH) return i;
    if (c < 0x20) return -1;
    i++;
  }
  let k = (i - base) >> 2;
  const stop = Math.min(words.length, k + (NATIVE_AFTER >> 2));
  for (; k < stop; k++) {
    const x = words[k]!;
    const q = x ^ QUOTES;
    const s = x ^ BACKSLASHES;
    if (((((x - SPACES) | 0) & ~x) | (((q - ONES) | 0) & ~q) | (((s - ONES) | 0) & ~s)) & HIGH_BITS) break;
  }
  i = base + (k << 2);
  if (k < stop || k >= words.length) {
    // The byte that stopped the words (or the line's last bytes).
    for (; i < n; i++) {
      const c = b[i]!;
      if (c === QUOTE || c === BACKSLASH) return i;
      if (c < 0x20) return -1;
    }
    return n;
  }
  if (marks.quote < i) marks.quote = found(marks.buf.indexOf(QUOTE, i), n);
  if (marks.backslash < i) marks.backslash = found(marks.buf.indexOf(BACKSLASH, i), n);
  const next = Math.min(marks.quote, marks.backslash);
  return controlIn(b, i, next, marks) ? -1 : next;
}

const QUOTES = 0x22222222;
const BACKSLASHES = 0x5c5c5c5c;
const ONES = 0x01010101;

/** Whether [from, to) of the line holds a byte below 0x20, through the line's own word view. */
function controlIn(b: Uint8Array, from: number, to: number, marks: Marks): boolean {
  const base = marks.wordsFrom;
  let i = from;
  while (i < to && (i < base || ((i - base) & 3) !== 0)) if (b[i++]! < 0x20) return true;
  const first = (i - base) >> 2;
  const last = (to - base) >> 2;
  if (first < last) {
    if (controlWord(marks.words, first, last) >= 0) return true;
    i = base + (last << 2);
  }
  for (; i < to; i++) if (b[i]! < 0x20) return true;
  return false;
}

function found(at: number, none: number): number {
  return at < 0 ? none : at;
}

const HIGH_BITS = 0x80808080 | 0;
const SPACES = 0x20202020;

/**
 * Whether `b` holds a byte below 0x20 (a control character, tab included)
 * in [from, to), four bytes at a time: a word has one when subtracting 0x20
 * from each of its bytes borrows from a byte whose top bit was clear (exact
 * as a yes or no, whatever the byte order).
 */
export function hasControlByte(b: Uint8Array, from = 0, to = b.length): boolean {
  let i = from;
  const head = Math.min(to, i + ((4 - ((b.byteOffset + i) & 3)) & 3));
  for (; i < head; i++) if (b[i]! < 0x20) return true;
  const words = (to - i) >>> 2;
  if (words > 0) {
    if (controlWord(new Int32Array(b.buffer, b.byteOffset + i, words), 0, words) >= 0) return true;
    i += words << 2;
  }
  for (; i < to; i++) if (b[i]! < 0x20) return true;
  return false;
}

/** Index of the first word of `w` in [from, to) with a byte below 0x20, or -1 (two words a step). */
function controlWord(w: Int32Array, from: number, to: number): number {
  const n = to;
  let k = from;
  for (; k + 1 < n; k += 2) {
    const x = w[k]!;
    const y = w[k + 1]!;
    if (((((x - SPACES) | 0) & ~x) | (((y - SPACES) | 0) & ~y)) & HIGH_BITS) return k;
  }
  if (k < n) {
    const x = w[k]!;
    if (((x - SPACES) | 0) & ~x & HIGH_BITS) return k;
  }
  return -1;
}

enum Ctx {
  Object = 1,
  Array = 2,
}

/**
 * Checks that `b` is exactly one JSON object (RFC 8259 grammar; UTF-8 is
 * checked by the caller) and records its top-level members and those of its
 * top-level `result` object; undefined when it is not valid JSON or not an
 * object. One pass, iterative: linear in the bytes, any nesting.
 */
export function scanJsonBytes(b: Uint8Array): ResponseScan | undefined {
  const n = b.length;
  const aligned = Math.min(n, (4 - (b.byteOffset & 3)) & 3);
  const marks: Marks = {
    buf: Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length),
    view: new DataView(b.buffer, b.byteOffset, b.length),
    words: new Int32Array(b.buffer, b.byteOffset + aligned, (n - aligned) >>> 2),
    wordsFrom: aligned,
    quote: -1,
    backslash: -1,
  };
  const stack: number[] = [];
  const top = new Map<string, readonly [number, number]>();
  let result: Map<string, readonly [number, number]> | undefined;
  let i = 0;
  const ws = () => {
    while (i < n && isWs(b[i]!)) i++;
  };
  // Where the current member's value started, per tracked depth.
  let topKey: string | undefined;
  let topStart = 0;
  let resultKey: string | undefined;
  let resultStart = 0;
  let resultDepth = -1;
  const str = (): boolean => {
    // The position lives in a local while the string is walked: `i` is shared by the closures (a context slot).
    const end = stringEnd(b, i, marks);
    if (end < 0) return false;
    i = end;
    return true;
  };
  const num = (): boolean => {
    const s = i;
    if (b[i] === 45) i++;
    if (b[i] === 48) i++;
    else if (b[i]! >= 49 && b[i]! <= 57) while (b[i]! >= 48 && b[i]! <= 57) i++;
    else return false;
    if (b[i] === 46) {
      i++;
      if (!(b[i]! >= 48 && b[i]! <= 57)) return false;
      while (b[i]! >= 48 && b[i]! <= 57) i++;
    }
    if (b[i] === 101 || b[i] === 69) {
      i++;
      if (b[i] === 43 || b[i] === 45) i++;
      if (!(b[i]! >= 48 && b[i]! <= 57)) return false;
      while (b[i]! >= 48 && b[i]! <= 57) i++;
    }
    return i > s;
  };
  const word = (w: string): boolean => {
    for (let k = 0; k < w.length; k++) if (b[i + k] !== w.charCodeAt(k)) return false;
    i += w.length;
    return true;
  };
  const keyText = (s: number, e: number): string => {
    const raw = Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };
  /** A value ended at depth `stack.length` (after the container closed or the scalar). */
  const valueEnded = (): void => {
    const d = stack.length;
    if (d === 1 && topKey !== undefined) {
      top.set(topKey, [topStart, i]);
      if (topKey === 'result' && b[topStart] === OPEN_BRACE) result = pendingResult;
      topKey = undefined;
    } else if (d === resultDepth && resultKey !== undefined) {
      pendingResult?.set(resultKey, [resultStart, i]);
      resultKey = undefined;
    }
  };
  let pendingResult: Map<string, readonly [number, number]> | undefined;

  ws();
  if (b[i] !== OPEN_BRACE) return undefined;
  let expect: 'value' | 'key' | 'keyOrClose' | 'valueOrClose' | 'after' = 'value';
  /** Closes the innermost container; true when that was the top-level object. */
  const closed = (): boolean => {
    stack.pop();
    i++;
    if (stack.length === 0) return true;
    valueEnded();
    expect = 'after';
    return false;
  };
  for (;;) {
    ws();
    if (expect === 'value' || expect === 'valueOrClose') {
      const c = b[i];
      if (expect === 'valueOrClose' && c === CLOSE_BRACKET) {
        closed();
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        stack.push(c === OPEN_BRACE ? Ctx.Object : Ctx.Array);
        if (stack.length === 2 && topKey === 'result' && c === OPEN_BRACE) {
          pendingResult = new Map();
          resultDepth = 2;
        }
        i++;
        expect = c === OPEN_BRACE ? 'keyOrClose' : 'valueOrClose';
        continue;
      }
      let ok: boolean;
      if (c === QUOTE) ok = str();
      else if (c === 116) ok = word('true');
      else if (c === 102) ok = word('false');
      else if (c === 110) ok = word('null');
      else ok = num();
      if (!ok) return undefined;
      valueEnded();
      expect = 'after';
      continue;
    }
    if (expect === 'key' || expect === 'keyOrClose') {
      if (expect === 'keyOrClose' && b[i] === CLOSE_BRACE) {
        if (closed()) break;
        continue;
      }
      if (b[i] !== QUOTE) return undefined;
      const ks = i;
      if (!str()) return undefined;
      const ke = i;
      ws();
      if (b[i] !== COLON) return undefined;
      i++;
      ws();
      if (stack.length === 1) {
        topKey = keyText(ks, ke);
        topStart = i;
      } else if (stack.length === resultDepth && pendingResult !== undefined && stack.length === 2 && topKey === 'result') {
        resultKey = keyText(ks, ke);
        resultStart = i;
      }
      expect = 'value';
      continue;
    }
    // after a value inside a container
    const c = b[i];
    const ctx = stack[stack.length - 1];
    if (c === COMMA) {
      i++;
      expect = ctx === Ctx.Object ? 'key' : 'value';
      continue;
    }
    if ((c === CLOSE_BRACE && ctx === Ctx.Object) || (c === CLOSE_BRACKET && ctx === Ctx.Array)) {
      if (closed()) break;
      continue;
    }
    return undefined;
  }
  ws();
  if (i !== n) return undefined;
  return { top, result };
}
