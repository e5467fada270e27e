// The 2025-era JSON-RPC messages the session tests send raw (no SDK), the same
// in every test: a session starts with INITIALIZE and is exercised with TOOLS_LIST.
export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
} as const;

export const TOOLS_LIST = { jsonrpc: '2.0', id: 1, method: 'tools/list' } as const;
