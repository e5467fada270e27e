// The adapter's HTTP face on plain node:http (no framework on the hot path):
// the MCP endpoint with its envelope checks (Origin, Content-Type, body size,
// JSON), plus /healthz, /readyz and /metrics.

import { isUtf8 } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { OpenMetricsContentType, Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import { RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import { wantsOpenMetrics } from '../../lib/open-metrics.js';
import type { AdapterMetrics } from '../metrics.js';
import { scanRequest } from '../protocol/json-scan.js';
import { errorText, isPlainObject, RpcCode, strictProblem } from '../protocol/jsonrpc-message.js';
import { requestBody } from '../protocol/request-body.js';
import { isJsonContentType, type OriginPolicy, originAllowed, readAccept } from '../protocol/request-checks.js';
import { utf8Text } from '../protocol/utf8-text.js';
import type { McpEndpoint } from './mcp-endpoint.js';

/** How long open connections may finish their exchange when the server closes. */
const CLOSE_GRACE_MS = 1_000;
/**
 * A client that has just had an answer may already be sending its next
 * request on that keep-alive connection; closing it then resets the request.
 * The server keeps answering (draining: 503 retryable, `connection: close`)
 * until no request has come for this long, bounded by CLOSE_GRACE_MS.
 */
const QUIET_BEFORE_CLOSE_MS = 100;

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly maxBodyBytes: number;
  readonly limits?: InputLimits;
  readonly origins: OriginPolicy;
  readonly endpoint: McpEndpoint;
  readonly registry: Registry;
  /** The same metrics as OpenMetrics (AdapterMetrics.openMetrics). */
  readonly openMetrics?: Registry<OpenMetricsContentType>;
  readonly metrics: AdapterMetrics;
  readonly logger: Logger;
  /** Ready for traffic (≥1 process ready, not draining). */
  ready(): boolean;
  draining(): boolean;
  /** Serve HTTPS and require a client certificate from `clientCaFile` (Envoy's, from the mesh CA). */
  readonly tls?: AdapterTlsFiles;
  /** With TLS: plain HTTP /healthz and /readyz on this loopback port, for Consul's check (0: a free port). */
  readonly healthPort?: number;
  readonly healthHost?: string;
}

export interface AdapterTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string;
  /**
   * MCP requests only from client certificates with a URI SAN that starts
   * with this (Envoy's, spiffe://mcpmesh/envoy/…): a scraper's certificate of
   * the same CA reads /metrics but calls no tool past Envoy's policies.
   */
  readonly mcpClientUriPrefix?: string;
}

/** Whether the connection's client certificate has a URI SAN starting with `prefix` (asked once per connection). */
function peerUriMatches(socket: Socket, prefix: string, seen: WeakMap<Socket, boolean>): boolean {
  let ok = seen.get(socket);
  if (ok === undefined) {
    const san = (socket as TLSSocket).getPeerCertificate?.().subjectaltname ?? '';
    ok = san.split(', ').some((entry) => entry.startsWith('URI:') && entry.slice(4).startsWith(prefix));
    seen.set(socket, ok);
  }
  return ok;
}

/** How often the certificate files are looked at (stat) for a rotation. */
const TLS_POLL_MS = 500;

/** Bounds on what one request or one client may cost (docs/adapter.md, Limits). */
export interface InputLimits {
  /** Deepest nesting of arrays and objects in a body. */
  readonly maxJsonDepth: number;
  /** Arrays and objects in one body at most: what parsing it may allocate and cost. */
  readonly maxJsonContainers: number;
  /** POSTs being answered at once on one connection (pipelining). */
  readonly perConnection: number;
}

/**
 * The default bound on arrays and objects in one body. JSON.parse of a 4 MiB body
 * of empty objects costs about 15 ms at 100,000 of them and 27 ms at 200,000
 * (bench/RESULTS.md, Hostile input): the bound is what keeps that shape within
 * a request's fair share. A server whose tools take larger structures raises it.
 */
export const DEFAULT_MAX_JSON_CONTAINERS = 100_000;
const DEFAULT_LIMITS: InputLimits = { maxJsonDepth: 128, maxJsonContainers: DEFAULT_MAX_JSON_CONTAINERS, perConnection: 1_000_000 };

function idOf(value: unknown): string | number | null {
  if (!isPlainObject(value)) return null;
  const id = value['id'];
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}

export interface HttpServerHandle {
  readonly port: number;
  readonly host: string;
  /** With TLS: the plain health port (/healthz, /readyz only). */
  readonly healthPort: number | undefined;
  /** Certificates loaded after a rotation of the files. */
  tlsReloads(): number;
  /** Answers not yet started close their connection, so clients open a new one (to another replica). */
  beginDrain(): void;
  /** Resolves once no MCP request has come for quietMs, or at the deadline (performance.now() time). */
  quietFor(quietMs: number, deadline: number): Promise<void>;
  close(): Promise<void>;
}

function sendError(res: ServerResponse, status: number, code: number, message: string, extra?: Record<string, string>): void {
  const body = errorText(null, code, message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

async function quiet(last: () => number, quietMs: number, deadline: number): Promise<void> {
  for (let now = performance.now(); now - last() < quietMs && now < deadline; now = performance.now()) {
    await new Promise((r) => setTimeout(r, Math.min(quietMs - (now - last()), deadline - now)));
  }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const { endpoint, metrics } = opts;
  const limits = opts.limits ?? DEFAULT_LIMITS;
  // POSTs being answered, per connection (the per-client bound is the pool's: calls on processes).
  const perConnection = new WeakMap<Socket, number>();

  const readBody = (req: IncomingMessage, res: ServerResponse): void => {
    if (!isJsonContentType(req.headers['content-type'])) {
      metrics.rejected('unsupported_media_type');
      return sendError(res, 415, RpcCode.ServerError, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const declared = req.headers['content-length'];
    const tooLarge = () => {
      metrics.rejected('body_too_large');
      // The rest of the body is not read: the connection cannot be reused.
      sendError(res, 413, RpcCode.ServerError, `Payload Too Large: Request body must not exceed ${opts.maxBodyBytes} bytes`, {
        connection: 'close',
      });
    };
    if (declared !== undefined && Number(declared) > opts.maxBodyBytes) return tooLarge();
    const accept = readAccept(req.headers['accept']);
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > opts.maxBodyBytes) {
        over = true;
        tooLarge();
        req.pause();
        return;
      }
      if (first === undefined) first = chunk;
      else {
        chunks ??= [first];
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (over) return;
      const body = chunks !== undefined ? Buffer.concat(chunks, size) : first;
      if (body === undefined || body.length === 0) {
        metrics.rejected('parse_error');
        return sendError(res, 400, RpcCode.ParseError, 'Parse error: the request body is empty');
      }
      // Strict UTF-8: a lossy decode would hand the server text the client never sent.
      if (!isUtf8(body)) {
        metrics.rejected('parse_error');
        return sendError(res, 400, RpcCode.ParseError, 'Parse error: the request body is not valid UTF-8');
      }
      const text = utf8Text(body);
      // Before parsing: a linear scan, so that no later step (ours or the server's) meets deep nesting.
      // The same walk finds the id and progress token the call splices: the request carries them.
      const scan = scanRequest(text, limits.maxJsonDepth, limits.maxJsonContainers);
      if (scan.tooDeep) {
        metrics.rejected('too_deep');
        return sendError(
          res,
          400,
          RpcCode.InvalidRequest,
          `Invalid Request: the body nests arrays and objects deeper than ${limits.maxJsonDepth} levels, or holds more than ${limits.maxJsonContainers} of them`,
        );
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        metrics.rejected('parse_error');
        return sendError(res, 400, RpcCode.ParseError, `Parse error: ${(err as Error).message}`);
      }
      // What the server would drop without a word is refused here, with a word.
      const problem = strictProblem(value);
      if (problem !== undefined) {
        metrics.rejected('invalid_request');
        const answer = errorText(idOf(value), RpcCode.InvalidRequest, `Invalid Request: ${problem}`);
        res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
        return;
      }
      try {
        endpoint.post(req, res, value, requestBody(text, scan.spans, body), accept);
      } catch (err) {
        opts.logger.error({ err }, 'request handling failed');
        if (!res.headersSent) sendError(res, 500, RpcCode.InternalError, 'Internal server error');
        else res.end();
      }
    });
    req.on('error', () => undefined);
  };

  /** Counts a POST against its connection's bound until its answer ends (handle's close listener); false: refused. */
  const admit = (req: IncomingMessage, res: ServerResponse): boolean => {
    const socket = req.socket;
    const onConnection = perConnection.get(socket) ?? 0;
    if (onConnection >= limits.perConnection) {
      metrics.rejected('connection_limit');
      // Never reached a process: retryable, like overload.
      sendError(
        res,
        503,
        RpcCode.ServerError,
        `Server overloaded: ${limits.perConnection} calls are in flight on this connection (pipelined)`,
        { [RETRYABLE_HEADER]: 'true' },
      );
      return false;
    }
    perConnection.set(socket, onConnection + 1);
    return true;
  };
  const unadmit = (socket: Socket): void => {
    perConnection.set(socket, Math.max(0, (perConnection.get(socket) ?? 1) - 1));
  };

  /** True when a POST was admitted (counted against its connection until its answer ends). */
  const mcp = (req: IncomingMessage, res: ServerResponse): boolean => {
    const origin = req.headers['origin'];
    if (!originAllowed(origin, opts.origins)) {
      metrics.rejected('origin');
      sendError(res, 403, RpcCode.ServerError, `Forbidden: Origin ${origin ?? ''} is not allowed`);
      return false;
    }
    switch (req.method) {
      case 'POST':
        if (!admit(req, res)) return false;
        readBody(req, res);
        return true;
      case 'GET':
        endpoint.get(req, res, readAccept(req.headers['accept']));
        return false;
      case 'DELETE':
        endpoint.delete(req, res);
        return false;
      default:
        metrics.rejected('method_not_allowed');
        sendError(res, 405, RpcCode.ServerError, 'Method not allowed.', { allow: 'GET, POST, DELETE' });
        return false;
    }
  };

  // Responses whose head is not written yet: drain marks them to close their
  // connection, as answers started while draining do.
  const unanswered = new Set<ServerResponse>();
  let lastRequestAt = 0;
  let lastMcpRequestAt = 0;
  const uriChecked = new WeakMap<Socket, boolean>();
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    lastRequestAt = performance.now();
    if (opts.draining()) res.shouldKeepAlive = false;
    else unanswered.add(res);
    // One close listener for all the server keeps per response: an emitter
    // with several copies the list and walks it on every emit and removal.
    let admitted = false;
    const socket = req.socket;
    res.once('close', () => {
      unanswered.delete(res);
      if (admitted) unadmit(socket);
    });
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === opts.path) {
      const prefix = opts.tls?.mcpClientUriPrefix;
      if (prefix !== undefined && !peerUriMatches(req.socket, prefix, uriChecked)) {
        metrics.rejected('client_certificate');
        sendError(res, 403, RpcCode.InvalidRequest, `Forbidden: MCP requests need a client certificate naming ${prefix}…`);
        return;
      }
      lastMcpRequestAt = lastRequestAt;
      // Set before the answer can close: a response's close is emitted on a later tick.
      admitted = mcp(req, res);
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ok = opts.ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ok ? 'ready\n' : opts.draining() ? 'draining\n' : 'no server process ready\n');
      return;
    }
    if (path === '/metrics' && req.method === 'GET') {
      // OpenMetrics when asked for (it alone carries the latency histogram's exemplars).
      const registry = opts.openMetrics !== undefined && wantsOpenMetrics(req.headers['accept']) ? opts.openMetrics : opts.registry;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };
  const tls = opts.tls !== undefined ? new TlsFiles(opts.tls, opts.logger) : undefined;
  const server: http.Server = tls
    ? https.createServer({ ...tls.load(), requestCert: true, rejectUnauthorized: true }, handle)
    : http.createServer(handle);
  tls?.watch((options) => (server as https.Server).setSecureContext(options));
  const health = tls ? await startHealthServer(opts) : undefined;
  // Longer than any proxy's idle timeout, so the proxy, not the adapter,
  // closes idle upstream connections (no request races a close).
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 60_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.once('close', () => sockets.delete(s));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    tls?.stop();
    health?.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  return {
    port: address.port,
    host: opts.host,
    healthPort: health ? (health.address() as AddressInfo).port : undefined,
    tlsReloads: () => tls?.reloads ?? 0,
    beginDrain: () => {
      for (const res of unanswered) if (!res.headersSent) res.shouldKeepAlive = false;
      unanswered.clear();
    },
    quietFor: (quietMs, deadline) => quiet(() => lastMcpRequestAt, quietMs, deadline),
    // Wait for a quiet moment, stop listening, let the requests being answered
    // finish, then cut whatever is left.
    close: async () => {
      tls?.stop();
      await quiet(() => lastRequestAt, QUIET_BEFORE_CLOSE_MS, performance.now() + CLOSE_GRACE_MS);
      health?.close();
      health?.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        const cut = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, CLOSE_GRACE_MS);
        cut.unref();
        server.once('close', () => clearTimeout(cut));
      });
    },
  };
}

/**
 * The adapter's certificate, key and client CA, read again whenever one of
 * the files changes (polled with stat, so a rename over the file counts too).
 * A set that does not load (a key written before its certificate) keeps the
 * current one in force until the files are consistent again. Contents are
 * never logged, only which certificate (subject, serial, expiry) is served.
 */
class TlsFiles {
  reloads = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly files: readonly string[];

  constructor(
    private readonly paths: AdapterTlsFiles,
    private readonly logger: Logger,
  ) {
    this.files = [paths.certFile, paths.keyFile, paths.clientCaFile];
  }

  /** Reads and checks the files; throws naming the file that is missing or does not fit. */
  load(): SecureContextOptions {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const options = {
      cert: read(this.paths.certFile, 'certificate'),
      key: read(this.paths.keyFile, 'key'),
      ca: read(this.paths.clientCaFile, 'client CA'),
    };
    try {
      createSecureContext(options);
    } catch (err) {
      throw new Error(`TLS certificate ${this.paths.certFile} and key ${this.paths.keyFile} do not load: ${(err as Error).message}`);
    }
    return options;
  }

  watch(apply: (options: SecureContextOptions) => void): void {
    const changed = () => {
      if (this.stopped) return;
      clearTimeout(this.timer);
      // Files of one rotation are written one after the other.
      this.timer = setTimeout(() => this.reload(apply), 100);
    };
    for (const f of this.files) watchFile(f, { interval: TLS_POLL_MS, persistent: false }, changed);
  }

  private reload(apply: (options: SecureContextOptions) => void): void {
    if (this.stopped) return;
    try {
      const options = this.load();
      apply(options);
      this.reloads += 1;
      const cert = new X509Certificate(options.cert as Buffer);
      this.logger.info({ subject: cert.subject, serial: cert.serialNumber, validTo: cert.validTo }, 'TLS certificate reloaded');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'TLS files changed but do not load; the current certificate stays in force');
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const f of this.files) unwatchFile(f);
  }
}

/**
 * Consul's HTTP check cannot present a client certificate, so an adapter that
 * serves mTLS answers /healthz and /readyz (nothing else) in plain HTTP on a
 * loopback port of its own; the local Consul agent checks that.
 */
async function startHealthServer(opts: HttpServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const ok = opts.ready();
      return void res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain', connection: 'close' })
        .end(ok ? 'ready\n' : opts.draining() ? 'draining\n' : 'no server process ready\n');
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.healthPort ?? 0, opts.healthHost ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
