// A real Streamable HTTP MCP server for tests, built on the MCP SDK (v2): one
// path serves 2026-07-28 stateless requests and 2025-era sessions. Each replica
// knows its id, counts calls per tool, and can be slowed or made to hang.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createMcpHandler, isLegacyRequest, McpServer, WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface McpUpstream {
  readonly id: string;
  readonly url: string;
  readonly port: number;
  readonly calls: Map<string, number>;
  /** Headers of the last POST this replica received, as sent to it. */
  lastPostHeaders(): http.IncomingHttpHeaders | undefined;
  setDelayMs(ms: number): void;
  /** Stop answering (requests hang) while keeping the port open. */
  setHang(on: boolean): void;
  /** Closes the server and every connection at once, like a killed process. */
  close(): Promise<void>;
}

export interface McpUpstreamOptions {
  readonly id: string;
  readonly port?: number;
  readonly path?: string;
}

export async function startMcpUpstream(opts: McpUpstreamOptions): Promise<McpUpstream> {
  const path = opts.path ?? '/mcp';
  const calls = new Map<string, number>();
  let counter = 0;
  let delayMs = 0;
  let hang = false;
  let lastPost: http.IncomingHttpHeaders | undefined;
  const count = (tool: string) => calls.set(tool, (calls.get(tool) ?? 0) + 1);
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });

  const makeServer = () => {
    const s = new McpServer({ name: `test-upstream-${opts.id}`, version: '1.0.0' });
    s.registerTool(
      'echo',
      { description: 'Echoes its text', inputSchema: z.object({ text: z.string() }), annotations: { readOnlyHint: true } },
      async ({ text: t }) => {
        count('echo');
        return text(`${t} (from ${opts.id})`);
      },
    );
    s.registerTool(
      'whoami',
      { description: 'Names the replica', inputSchema: z.object({}), annotations: { readOnlyHint: true } },
      async () => {
        count('whoami');
        return text(opts.id);
      },
    );
    s.registerTool(
      'slow',
      {
        description: 'Sleeps ms',
        inputSchema: z.object({ ms: z.number().int().min(0).max(60_000) }),
        annotations: { idempotentHint: true },
      },
      async ({ ms }) => {
        count('slow');
        await new Promise((r) => setTimeout(r, ms));
        return text(`slept ${ms} on ${opts.id}`);
      },
    );
    s.registerTool('fail', { description: 'Always fails', inputSchema: z.object({}), annotations: { readOnlyHint: true } }, async () => {
      count('fail');
      return { ...text(`failure on ${opts.id}`), isError: true };
    });
    s.registerTool(
      'increment',
      { description: 'Adds one', inputSchema: z.object({}), annotations: { idempotentHint: false, destructiveHint: false } },
      async () => {
        count('increment');
        counter += 1;
        return text(`${counter} on ${opts.id}`);
      },
    );
    return s;
  };

  const modern = createMcpHandler(() => makeServer(), { legacy: 'reject' });
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();

  async function legacy(request: Request, parsedBody: unknown): Promise<Response> {
    const sid = request.headers.get('mcp-session-id');
    if (sid) {
      const t = sessions.get(sid);
      if (!t) return Response.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, { status: 404 });
      return t.handleRequest(request, { parsedBody });
    }
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    await makeServer().connect(transport);
    return transport.handleRequest(request, { parsedBody });
  }

  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer(async (req, res) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    if (hang) return; // never answers; the socket stays open
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (!req.url?.startsWith(path)) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'POST') lastPost = req.headers;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    let parsedBody: unknown;
    if (raw.length > 0) {
      try {
        parsedBody = JSON.parse(raw.toString('utf8'));
      } catch {
        parsedBody = undefined;
      }
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const request = new Request(`http://127.0.0.1${req.url}`, {
      method: req.method ?? 'GET',
      headers,
      ...(raw.length > 0 && req.method !== 'GET' ? { body: raw } : {}),
    });
    try {
      const response = (await isLegacyRequest(request, parsedBody))
        ? await legacy(request, parsedBody)
        : await modern.fetch(request, { parsedBody });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      // Streams (SSE) must show their headers before the first event.
      res.flushHeaders();
      if (response.body) Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(res);
      else res.end();
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    id: opts.id,
    url: `http://127.0.0.1:${port}${path}`,
    port,
    calls,
    lastPostHeaders: () => lastPost,
    setDelayMs: (ms) => {
      delayMs = ms;
    },
    setHang: (on) => {
      hang = on;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      for (const t of sessions.values()) await t.close().catch(() => undefined);
      await modern.close();
    },
  };
}
