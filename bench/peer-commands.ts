// How the benches run the peer gateways in front of one stdio server: the
// same flags everywhere, so that every table compares the same setups.

/** supergateway as a stateful Streamable HTTP gateway (one server process per session). */
export function supergatewayArgs(serverCommand: string, port: number): string[] {
  return ['--stdio', serverCommand, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'];
}

/** mcp-proxy serving Streamable HTTP on loopback. */
export function mcpProxyArgs(server: readonly string[], port: number): string[] {
  return ['--port', String(port), '--host', '127.0.0.1', '--server', 'stream', '--', ...server];
}
