// A minimal 2025-era MCP endpoint for the transport rows of envoy-filters.ts
// and the HTTP stack floors of bench/adapter/http-stack-floor.ts: it answers
// initialize with a session id, notifications with 202 and every tools/call
// with the echo answer, so that what differs between the rows is the HTTP
// stack alone (HTTP/1.1 or h2c, TCP or a Unix socket, node:http or
// uWebSockets), not an MCP server.
//   node dist/bench/gateway/echo-upstream.js (--port N | --path /tmp/x.sock) [--h2c | --uws DIR]
// --uws DIR: serve with the uWebSockets build installed in DIR (outside the
// repository, never a dependency of mcpmesh: see http-stack-floor.ts).

import { rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    path: { type: 'string' },
    h2c: { type: 'boolean', default: false },
    uws: { type: 'string' },
  },
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function answer(method: string | undefined, body: Buffer): Answer {
  if (method !== 'POST') return { status: method === 'DELETE' ? 200 : 405, headers: {}, body: '' };
  let msg: { id?: unknown; method?: unknown; params?: { arguments?: { message?: unknown } } };
  try {
    msg = JSON.parse(body.toString('utf8')) as typeof msg;
  } catch {
    return {
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}',
    };
  }
  if (msg.id === undefined) return { status: 202, headers: {}, body: '' };
  const result =
    msg.method === 'initialize'
      ? { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'echo-upstream', version: '1' } }
      : { content: [{ type: 'text', text: `Echo: ${String(msg.params?.arguments?.message)}` }] };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (msg.method === 'initialize') headers['mcp-session-id'] = 'echo-upstream-session';
  return { status: 200, headers, body: JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }) };
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

function handle(req: Req, res: Res): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const a = answer(req.method, Buffer.concat(chunks));
    res.writeHead(a.status, a.headers).end(a.body);
  });
}

/** The few calls of uWebSockets.js used here (it ships no types this build can rely on). */
interface UwsResponse {
  onAborted(cb: () => void): UwsResponse;
  onData(cb: (chunk: ArrayBuffer, last: boolean) => void): void;
  cork(cb: () => void): void;
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body: string): void;
}
interface UwsApp {
  any(pattern: string, handler: (res: UwsResponse, req: { getMethod(): string }) => void): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): void;
}

function serveUws(dir: string, port: number): void {
  const uws = createRequire(join(dir, 'package.json'))('uwebsockets') as { App(): UwsApp };
  uws
    .App()
    .any('/*', (res, req) => {
      // uWS wants the method read before the handler returns, and the body copied (its chunks are reused).
      const method = req.getMethod().toUpperCase();
      const chunks: Buffer[] = [];
      res.onAborted(() => undefined);
      res.onData((chunk, last) => {
        chunks.push(Buffer.from(chunk.slice(0)));
        if (!last) return;
        const a = answer(method, Buffer.concat(chunks));
        res.cork(() => {
          res.writeStatus(`${a.status} ${http.STATUS_CODES[a.status] ?? ''}`);
          for (const [k, v] of Object.entries(a.headers)) res.writeHeader(k, v);
          res.end(a.body);
        });
      });
    })
    .listen('127.0.0.1', port, (token) => {
      if (!token) throw new Error(`uWebSockets could not listen on 127.0.0.1:${port}`);
    });
}

if (values.uws !== undefined) serveUws(values.uws, Number(values.port));
else {
  const server = values.h2c ? http2.createServer(handle) : http.createServer(handle);
  if (server instanceof http.Server) server.keepAliveTimeout = 600_000;
  if (values.path !== undefined) {
    rmSync(values.path, { force: true });
    server.listen(values.path);
  } else server.listen(Number(values.port), '127.0.0.1');
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(0));
