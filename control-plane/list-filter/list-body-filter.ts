// Filters a tools/list, prompts/list or resources/list answer down to what the
// caller may use, in a JSON body or an SSE stream (each event's data is one
// JSON-RPC message). One parse and one serialization per message: linear in
// the body's size. Anything that cannot be read is an error (the caller fails
// closed), never passed on unfiltered. Pure.
import type { ItemKind } from './rule-match.js';

export type Allowed = { readonly all: true } | { readonly all: false; readonly names: ReadonlySet<string> };

export class UnfilterableBody extends Error {}

const KEY_OF: Record<ItemKind, 'name' | 'uri'> = { tools: 'name', prompts: 'name', resources: 'uri' };

/** One JSON-RPC message: its result's list filtered, everything else as it was. */
function filterMessage(message: unknown, kind: ItemKind, allowed: Allowed): unknown {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) throw new UnfilterableBody('not a JSON-RPC message');
  const result = (message as { result?: unknown }).result;
  if (result === undefined || result === null || typeof result !== 'object') return message;
  const list = (result as Record<string, unknown>)[kind];
  if (list === undefined) return message;
  if (!Array.isArray(list)) throw new UnfilterableBody(`result.${kind} is not a list`);
  if (allowed.all) return message;
  const key = KEY_OF[kind];
  const kept = list.filter((item) => {
    const id = item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[key] : undefined;
    return typeof id === 'string' && allowed.names.has(id);
  });
  return { ...(message as object), result: { ...(result as object), [kind]: kept } };
}

function filterJson(text: string, kind: ItemKind, allowed: Allowed): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UnfilterableBody('the body is not JSON');
  }
  return JSON.stringify(filterMessage(parsed, kind, allowed));
}

/** SSE: events separated by blank lines; an event's data lines joined by \n are one message. */
function filterSse(text: string, kind: ItemKind, allowed: Allowed): string {
  const events = text.replace(/\r\n?/g, '\n').split('\n\n');
  return events
    .map((event) => {
      const lines = event.split('\n');
      const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
      if (data.length === 0) return event;
      const others = lines.filter((l) => !l.startsWith('data:'));
      return [...others, `data: ${filterJson(data.join('\n'), kind, allowed)}`].join('\n');
    })
    .join('\n\n');
}

export function filterListBody(body: string, contentType: string, kind: ItemKind, allowed: Allowed): string {
  if (/^\s*text\/event-stream/i.test(contentType)) return filterSse(body, kind, allowed);
  if (/^\s*application\/json/i.test(contentType)) return filterJson(body, kind, allowed);
  throw new UnfilterableBody(`cannot filter a ${contentType || 'body without a content type'}`);
}
