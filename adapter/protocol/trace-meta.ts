// Trace context into a request's params._meta, spliced into the raw text (as
// ids and progress tokens are, protocol/jsonrpc-ids.ts): the server gets the
// client's bytes with only these members set. Linear in the text.
import { eachMember, findMember, skipWs, valueStart } from './json-scan.js';

const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/**
 * `text` (a valid JSON-RPC request) with `params._meta[key]` set to each
 * value (JSON text), creating `params` and `_meta` when absent; undefined when
 * `params` or `_meta` is there but not an object.
 */
export function setMetaMembers(text: string, members: readonly (readonly [string, string])[]): string | undefined {
  if (members.length === 0) return text;
  const top = valueStart(text);
  const params = findMember(text, top, 'params');
  const inner = members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',');
  if (params === undefined) return insertAfterBrace(text, top, `"params":{"_meta":{${inner}}}`);
  if (text.charCodeAt(params.start) !== OPEN_BRACE) return undefined;
  const meta = findMember(text, params.start, '_meta');
  if (meta === undefined) return insertAfterBrace(text, params.start, `"_meta":{${inner}}`);
  if (text.charCodeAt(meta.start) !== OPEN_BRACE) return undefined;
  // Replace members that exist (every occurrence: JSON.parse keeps the last), add the others at the front.
  const wanted = new Map(members);
  const edits: [number, number, string][] = [];
  const present = new Set<string>();
  eachMember(text, meta.start, (key, start, end) => {
    const v = wanted.get(key);
    if (v === undefined) return;
    present.add(key);
    edits.push([start, end, v]);
  });
  let out = text;
  for (const [start, end, v] of edits.reverse()) out = out.slice(0, start) + v + out.slice(end);
  const missing = members.filter(([k]) => !present.has(k));
  if (missing.length === 0) return out;
  return insertAfterBrace(out, meta.start, missing.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(','));
}

/** `members` (text of object members) put first into the object whose `{` is at `at`. */
function insertAfterBrace(text: string, at: number, members: string): string {
  const empty = text.charCodeAt(skipWs(text, at + 1)) === CLOSE_BRACE;
  return text.slice(0, at + 1) + members + (empty ? '' : ',') + text.slice(at + 1);
}
