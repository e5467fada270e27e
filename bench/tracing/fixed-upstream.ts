// A minimal MCP upstream for benches of Envoy alone: every request gets 200
// with a fixed result under its own id (initialize included), so the
// adapter's CPU and noise stay out of Envoy's figures.
import { createServer, type Server } from 'node:http';

/** What the fixed result's text says (the load's `expect`). */
export const FIXED_TEXT = 'echo: hello mcpmesh';

export function startFixedUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      let id: unknown = null;
      try {
        id = (JSON.parse(body) as { id?: unknown }).id ?? null;
      } catch {
        // not JSON: answered all the same
      }
      const out = JSON.stringify({
        jsonrpc: '2.0',
        id,
        result: {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name: 'fixed', version: '1' },
          content: [{ type: 'text', text: FIXED_TEXT }],
        },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
