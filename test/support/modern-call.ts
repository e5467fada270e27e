// One 2026-07-28 stateless tools/call over plain fetch, as a client that sends
// the MCP headers does: the tests' steady load and probes need calls cheaper
// than an SDK client per call, and they must all look the same on the wire.
import { MODERN_VERSION } from '../../lib/mesh-contracts.js';

export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'mcpmesh-tests', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
} as const;

/** The headers of a 2026-07-28 request of `method` (and the tool or other `name` it names), JSON or SSE accepted. */
export function modernHeaders(method: string, name?: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': method,
    ...(name !== undefined ? { 'mcp-name': name } : {}),
  };
}

export interface ModernCallOptions {
  readonly id?: number;
  readonly signal?: AbortSignal;
  /** More request headers (a hash key, a bearer token); they cannot replace the MCP ones. */
  readonly headers?: Record<string, string>;
}

/** POSTs `tools/call` of `tool` with `args`; the caller reads the answer. */
export function postToolCall(url: string, tool: string, args: Record<string, unknown>, opts: ModernCallOptions = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...opts.headers, ...modernHeaders('tools/call', tool) },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: opts.id ?? 1,
      method: 'tools/call',
      params: { name: tool, arguments: args, _meta: MODERN_META },
    }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
}

export interface ModernCallResult {
  readonly ok: boolean;
  readonly status: number;
  /** The first text content of the result ('' on an error). */
  readonly text: string;
  readonly detail: string;
}

/** A tools/call and its answer's first text: what the tests that count where calls land need. */
export async function modernToolCall(
  url: string,
  id: number,
  tool: string,
  args: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<ModernCallResult> {
  try {
    const res = await postToolCall(url, tool, args, { id, headers });
    const raw = await res.text();
    const m = /"text":"((?:[^"\\]|\\.)*)"/.exec(raw);
    const text = m ? (JSON.parse(`"${m[1]}"`) as string) : '';
    return {
      ok: res.status === 200 && m !== null && !raw.includes('"isError":true'),
      status: res.status,
      text,
      detail: `${res.status} ${raw.slice(0, 200)}`,
    };
  } catch (err) {
    return { ok: false, status: 0, text: '', detail: (err as Error).message };
  }
}
