// Filters a tools/list, prompts/list, resources/list or
// resources/templates/list answer down to what the caller may use (a template
// when it can expand to a URI the caller may read), in a JSON body or an SSE stream (each event's data is one
// JSON-RPC message). One parse and one serialization per message: linear in
// the body's size. Anything that cannot be read is an error (the caller fails
// closed), never passed on unfiltered. Pure.
import type { ItemKind } from './rule-match.js';
import { templateReachesAny } from './uri-template-match.js';

export type Allowed = { readonly all: true } | { readonly all: false; readonly names: ReadonlySet<string> };

export class UnfilterableBody extends Error {}

/** A list answer's key: a kind the rules name, or the resource templates (judged by the resource rules). */
export type ListKind = ItemKind | 'resourceTemplates';

const KEY_OF: Record<ListKind, 'name' | 'uri' | 'uriTemplate'> = {
  tools: 'name',
  prompts: 'name',
  resources: 'uri',
  resourceTemplates: 'uriTemplate',
};

function keeps(kind: ListKind, id: string, names: ReadonlySet<string>): boolean {
  return kind === 'resourceTemplates' ? templateReachesAny(id, names) : names.has(id);
}

/** One JSON-RPC message: its result's list filtered, everything else as it was. */
function filterMessage(message: unknown, kind: ListKind, allowed: Allowed): unknown {
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
    return typeof id === 'string' && keeps(kind, id, allowed.names);
  });
  return { ...(message as object), result: { ...(result as object), [kind]: kept } };
}

function filterJson(text: string, kind: ListKind, allowed: Allowed): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UnfilterableBody('the body is not JSON');
  }
  return JSON.stringify(filterMessage(parsed, kind, allowed));
}

/** SSE: events separated by blank lines; an event's data lines joined by \n are one message. */
function filterSse(text: string, kind: ListKind, allowed: Allowed): string {
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

export function filterListBody(body: string, contentType: string, kind: ListKind, allowed: Allowed): string {
  if (/^\s*text\/event-stream/i.test(contentType)) return filterSse(body, kind, allowed);
  if (/^\s*application\/json/i.test(contentType)) return filterJson(body, kind, allowed);
  throw new UnfilterableBody(`cannot filter a ${contentType || 'body without a content type'}`);
}
