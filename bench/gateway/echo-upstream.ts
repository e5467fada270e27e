// A minimal 2025-era MCP endpoint for the transport rows of envoy-filters.ts:
// it answers initialize with a session id, notifications with 202 and every
// tools/call with the echo answer, so that what differs between the rows is the
// HTTP stack alone (HTTP/1.1 or h2c, TCP or a Unix socket), not an MCP server.
//   node dist/bench/gateway/echo-upstream.js (--port N | --path /tmp/x.sock) [--h2c]

import { rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, path: { type: 'string' }, h2c: { type: 'boolean', default: false } },
});

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function handle(req: Req, res: Res): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST') {
      res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
      return;
    }
    let msg: { id?: unknown; method?: unknown; params?: { arguments?: { message?: unknown } } };
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof msg;
    } catch {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      return;
    }
    if (msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const result =
      msg.method === 'initialize'
        ? { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'echo-upstream', version: '1' } }
        : { content: [{ type: 'text', text: `Echo: ${String(msg.params?.arguments?.message)}` }] };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (msg.method === 'initialize') headers['mcp-session-id'] = 'echo-upstream-session';
    res.writeHead(200, headers).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
  });
}

const server = values.h2c ? http2.createServer(handle) : http.createServer(handle);
if (server instanceof http.Server) server.keepAliveTimeout = 600_000;
if (values.path !== undefined) {
  rmSync(values.path, { force: true });
  server.listen(values.path);
} else server.listen(Number(values.port), '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
