// JSON-RPC id rewriting on the raw message text. Many HTTP clients share one
// stdio process, so each request gets a process-local id on the way in and
// its own id back on the way out. Rewriting the text instead of re-serialising
// the parsed object keeps the server's bytes exact (no lost big integers, no
// reordered keys) and costs a string splice instead of a JSON.stringify.

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const COMMA = 44;

/** Hands out process-local request ids; numbers keep the splice patterns short. */
export class IdAllocator {
  private last = 0;
  next(): number {
    this.last = this.last >= Number.MAX_SAFE_INTEGER ? 1 : this.last + 1;
    return this.last;
  }
}

/**
 * Nesting depth of `index` inside valid JSON `text` (1 = directly inside the
 * top-level object), or -1 when `index` falls inside a string.
 */
function depthAt(text: string, index: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < index; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return inString ? -1 : depth;
}

/**
 * `text` (one valid JSON object) with its top-level `"id":<oldIdJson>` member
 * replaced by `"id":<newIdJson>`, or undefined when that member is not written
 * in exactly that compact form (the caller then re-serialises).
 */
export function replaceTopLevelId(text: string, oldIdJson: string, newIdJson: string): string | undefined {
  const key = '"id":' + oldIdJson;
  // The TypeScript SDKs write the id last: `…,"jsonrpc":"2.0","id":7}`.
  const suffixAt = text.length - key.length - 1;
  if (suffixAt > 0 && text.charCodeAt(text.length - 1) === CLOSE_BRACE && text.startsWith(key, suffixAt)) {
    const before = text.charCodeAt(suffixAt - 1);
    // Valid JSON ending in `,"id":7}` can only have that member at the top level.
    if (before === COMMA || before === OPEN_BRACE) return text.slice(0, suffixAt) + '"id":' + newIdJson + '}';
  }
  // Other writers put it first or anywhere: find the occurrence at depth 1.
  let from = 0;
  for (;;) {
    const at = text.indexOf(key, from);
    if (at < 0) return undefined;
    const next = text.charCodeAt(at + key.length);
    const ends = next === COMMA || next === CLOSE_BRACE || next === 32 || next === 10 || next === 13 || next === 9;
    if (ends && depthAt(text, at) === 1) return text.slice(0, at) + '"id":' + newIdJson + text.slice(at + key.length);
    from = at + key.length;
  }
}

/**
 * Index of the `{` that opens the top-level `"result"` object, when the writer
 * put `result` first (TypeScript SDKs) or right after jsonrpc/id (Python and
 * most others); -1 otherwise.
 */
export function resultObjectStart(text: string, idJson: string): number {
  if (text.startsWith('{"result":{')) return 10;
  const prefix = '{"jsonrpc":"2.0","id":' + idJson + ',"result":{';
  if (text.startsWith(prefix)) return prefix.length - 1;
  return -1;
}

/**
 * Client JSON may be pretty-printed; stdio framing is one message per line.
 * Outside strings a raw CR or LF is only whitespace (inside, JSON escapes
 * them), so replacing them with spaces keeps the message intact.
 */
export function oneLine(text: string): string {
  return text.indexOf('\n') < 0 && text.indexOf('\r') < 0 ? text : text.replace(/[\r\n]/g, ' ');
}
