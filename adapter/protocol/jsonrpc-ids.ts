// JSON-RPC id rewriting on the raw message text. Many HTTP clients share one
// stdio process, so each request gets a process-local id on the way in and
// its own id back on the way out. Rewriting the text instead of re-serialising
// the parsed object keeps the server's bytes exact (no lost big integers, no
// reordered keys) and costs a string splice instead of a JSON.stringify.

import { eachMember, findMember, valueStart } from './json-scan.js';

const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
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
 * `text` (one valid JSON object) with the value of its top-level `id` member
 * replaced by `newIdJson` (the last `id`, the one JSON.parse reads), or
 * undefined when it has none. One linear scan, whatever the nesting: ids
 * nested in params are never touched.
 */
export function replaceTopLevelId(text: string, oldIdJson: string, newIdJson: string): string | undefined {
  const key = `"id":${oldIdJson}`;
  // The TypeScript SDKs write the id last: `…,"jsonrpc":"2.0","id":7}`.
  const suffixAt = text.length - key.length - 1;
  if (suffixAt > 0 && text.charCodeAt(text.length - 1) === CLOSE_BRACE && text.startsWith(key, suffixAt)) {
    const before = text.charCodeAt(suffixAt - 1);
    // Valid JSON ending in `,"id":7}` can only have that member at the top level, and last.
    if (before === COMMA || before === OPEN_BRACE) return `${text.slice(0, suffixAt)}"id":${newIdJson}}`;
  }
  // Python and most others write it first: `{"jsonrpc":"2.0","id":7,…`.
  const prefix = `{"jsonrpc":"2.0",${key},`;
  if (text.startsWith(prefix) && !hasLaterTopLevelId(text, prefix.length - 1))
    return `{"jsonrpc":"2.0","id":${newIdJson}${text.slice(prefix.length - 1)}`;
  const at = valueStart(text);
  const id = findMember(text, at, 'id');
  if (id === undefined) return undefined;
  return text.slice(0, id.start) + newIdJson + text.slice(id.end);
}

/** Whether the object at 0 has another top-level `id` after index `from` (a comma). */
function hasLaterTopLevelId(text: string, from: number): boolean {
  // Cheap check first: no `id"` text after `from` at all. (Not `"id"`: a
  // search for a pattern that starts with a quote crawls through text dense
  // with quotes, 80 ms in 4 MiB of \".)
  if (text.indexOf('id"', from) < 0) return false;
  let later = false;
  let seen = 0;
  eachMember(text, 0, (k) => {
    if (k === 'id' && ++seen > 1) later = true;
  });
  return later;
}

/**
 * Index of the `{` that opens the top-level `"result"` object, when the writer
 * put `result` first (TypeScript SDKs) or right after jsonrpc/id (Python and
 * most others); -1 otherwise.
 */
export function resultObjectStart(text: string, idJson: string): number {
  if (text.startsWith('{"result":{')) return 10;
  const prefix = `{"jsonrpc":"2.0","id":${idJson},"result":{`;
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
