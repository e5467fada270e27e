// One 2026-07-28 stateless tools/call over plain fetch, as a client that sends
// the MCP headers does: the tests' steady load and probes need calls cheaper
// than an SDK client per call, and they must all look the same on the wire.
import { MODERN_VERSION } from '../../lib/mesh-contracts.js';

export const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'mcpmesh-tests', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
} as const;

export interface ModernCallOptions {
  readonly id?: number;
  readonly signal?: AbortSignal;
}

/** POSTs `tools/call` of `tool` with `args`; the caller reads the answer. */
export function postToolCall(url: string, tool: string, args: Record<string, unknown>, opts: ModernCallOptions = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': 'tools/call',
      'mcp-name': tool,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: opts.id ?? 1,
      method: 'tools/call',
      params: { name: tool, arguments: args, _meta: MODERN_META },
    }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
}
