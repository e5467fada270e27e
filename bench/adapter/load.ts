// Load drivers for the adapter benchmark: closed-loop clients (each sends its
// next call when the previous one is answered), over stdio directly or over
// Streamable HTTP with either protocol generation. Latency is measured per
// call from send to complete answer.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError: string | undefined;
}

const MAX_SAMPLES = 2_000_000;
/** A call without a complete answer by then fails (stdio and HTTP), so that every run is bounded. */
const REQUEST_TIMEOUT_MS = 10_000;

class Recorder {
  private readonly samples = new Float64Array(MAX_SAMPLES);
  private n = 0;
  calls = 0;
  errors = 0;
  firstError: string | undefined;
  measuring = false;
  /** Called once when calls + errors reach `limit` while measuring. */
  onLimit: (() => void) | undefined;
  limit = Infinity;

  record(ms: number, ok: boolean, detail?: string): void {
    if (!this.measuring) return;
    if (!ok) {
      this.errors++;
      this.firstError ??= detail;
    } else {
      this.calls++;
      if (this.n < MAX_SAMPLES) this.samples[this.n++] = ms;
    }
    if (this.calls + this.errors >= this.limit && this.onLimit !== undefined) {
      const f = this.onLimit;
      this.onLimit = undefined;
      f();
    }
  }

  result(seconds: number): LoadResult {
    const s = this.samples.subarray(0, this.n).sort();
    const q = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
    return { calls: this.calls, errors: this.errors, seconds, p50Ms: q(0.5), p99Ms: q(0.99), firstError: this.firstError };
  }
}

export interface Phase {
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Ends the measured phase early once this many calls (errors included) are recorded. */
  readonly maxCalls?: number;
  /** Called as the measured phase starts and as it ends (e.g. to read the target's CPU time). */
  readonly onMeasureStart?: () => void;
  readonly onMeasureEnd?: () => void;
}

async function runPhases(rec: Recorder, phase: Phase, loops: Array<(stop: () => boolean) => Promise<void>>): Promise<LoadResult> {
  return (await runPhasesOf([rec], phase, loops))[0]!;
}

/** The phases over several recorders at once; the measured phase ends early when any of them reaches `maxCalls`. */
async function runPhasesOf(
  recs: readonly Recorder[],
  phase: Phase,
  loops: Array<(stop: () => boolean) => Promise<void>>,
): Promise<LoadResult[]> {
  let stopped = false;
  const running = loops.map((l) => l(() => stopped));
  await new Promise((r) => setTimeout(r, phase.warmupMs));
  phase.onMeasureStart?.();
  for (const rec of recs) {
    rec.limit = phase.maxCalls ?? Infinity;
    rec.measuring = true;
  }
  const t0 = performance.now();
  await new Promise<void>((r) => {
    const timer = setTimeout(r, phase.measureMs);
    for (const rec of recs)
      rec.onLimit = () => {
        clearTimeout(timer);
        r();
      };
  });
  for (const rec of recs) {
    rec.onLimit = undefined;
    rec.measuring = false;
  }
  phase.onMeasureEnd?.();
  const seconds = (performance.now() - t0) / 1000;
  stopped = true;
  await Promise.all(running);
  return recs.map((rec) => rec.result(seconds));
}

// ---- direct stdio ----

export class StdioDriver {
  private readonly child: ChildProcess;
  private buf = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (line: string) => void>();
  /** Set once the server process is gone: every call then fails (after a pause, so loops still yield). */
  private gone: string | undefined;

  constructor(command: string, args: readonly string[]) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const lost = (why: string) => {
      this.gone ??= why;
      for (const answer of [...this.waiting.values()]) answer(`{"error":${JSON.stringify(why)}}`);
    };
    this.child.on('exit', (code, signal) => lost(`server process exited (${signal ?? code})`));
    this.child.on('error', (err) => lost(`server process failed: ${err.message}`));
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl = this.buf.indexOf('\n');
      while (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        nl = this.buf.indexOf('\n');
        const m = /"id":(\d+)\}$/.exec(line) ?? /"id":(\d+)/.exec(line);
        if (m) this.waiting.get(Number(m[1]))?.(line);
      }
    });
  }

  request(method: string, params: object): Promise<string> {
    const id = this.nextId++;
    if (this.gone !== undefined) {
      const line = `{"error":${JSON.stringify(this.gone)}}`;
      return new Promise((resolve) => setTimeout(() => resolve(line), 10));
    }
    return new Promise((resolve) => {
      // An answer that does not come in time fails the call (bounded runs).
      const timer = setTimeout(() => answer(`{"error":"no answer within ${REQUEST_TIMEOUT_MS} ms"}`), REQUEST_TIMEOUT_MS);
      const answer = (line: string) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(line);
      };
      this.waiting.set(id, answer);
      this.child.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  async initialize(): Promise<void> {
    const line = await this.request('initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'bench', version: '1' },
    });
    if (!line.includes('"result"')) throw new Error(`stdio initialize failed: ${line.slice(0, 200)}`);
    this.child.stdin!.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  }

  async run(concurrency: number, phase: Phase, call: { name: string; arguments: object; expect: string }): Promise<LoadResult> {
    const rec = new Recorder();
    const loop = async (stop: () => boolean) => {
      while (!stop()) {
        const t = performance.now();
        const line = await this.request('tools/call', { name: call.name, arguments: call.arguments });
        rec.record(performance.now() - t, line.includes(call.expect), line.slice(0, 200));
      }
    };
    return runPhases(
      rec,
      phase,
      Array.from({ length: concurrency }, () => loop),
    );
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** `perDriver` closed-loop clients on each of several drivers (sessions), recorded together. */
  static async runMany(
    drivers: readonly StdioDriver[],
    perDriver: number,
    phase: Phase,
    call: { name: string; arguments: object; expect: string },
  ): Promise<LoadResult> {
    const rec = new Recorder();
    const loops = drivers.flatMap((d) =>
      Array.from({ length: perDriver }, () => async (stop: () => boolean) => {
        while (!stop()) {
          const t = performance.now();
          const line = await d.request('tools/call', { name: call.name, arguments: call.arguments });
          rec.record(performance.now() - t, line.includes(call.expect), line.slice(0, 200));
        }
      }),
    );
    return runPhases(rec, phase, loops);
  }
}

// ---- Streamable HTTP ----

export type HttpEra = '2025' | '2026';

interface Reply {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: string;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * One keep-alive HTTP/1.1 connection with one request at a time: a minimal
 * client on a raw socket (Content-Length and chunked bodies), so that the
 * load generator spends little CPU of the machine it shares with the target.
 */
class RawConnection {
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  /** The request headers of the 2025-era session opened on this connection. */
  sessionHeaders: Record<string, string> | undefined;

  constructor(private readonly url: URL) {}

  private connect(): net.Socket {
    const s = net.connect({ host: this.url.hostname, port: Number(this.url.port) });
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    const fail = (err: Error) => {
      // A socket already replaced (closed after a `connection: close` answer) fails nothing.
      if (this.socket !== s) return;
      this.socket = undefined;
      this.buf = Buffer.alloc(0);
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(err);
    };
    s.on('error', fail);
    s.on('close', () => fail(new Error('connection closed')));
    return s;
  }

  request(headers: Record<string, string>, body: string, method = 'POST'): Promise<Reply> {
    this.socket ??= this.connect();
    let head = `${method} ${this.url.pathname} HTTP/1.1\r\nhost: ${this.url.host}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    return new Promise((resolve, reject) => {
      // A request without a complete answer in time fails, and its connection goes (bounded runs).
      const timer = setTimeout(() => {
        this.socket?.destroy(new Error(`no complete answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.socket!.write(`${head}\r\n${body}`);
    });
  }

  private parse(): void {
    if (this.waiter === undefined) return;
    const he = this.buf.indexOf(CRLFCRLF);
    if (he < 0) return;
    const head = this.buf.toString('latin1', 0, he).split('\r\n');
    const status = Number(head[0]!.split(' ')[1]);
    const headers = new Map<string, string>();
    for (let i = 1; i < head.length; i++) {
      const c = head[i]!.indexOf(':');
      headers.set(head[i]!.slice(0, c).trim().toLowerCase(), head[i]!.slice(c + 1).trim());
    }
    let at = he + 4;
    let body: string;
    const len = headers.get('content-length');
    if (len !== undefined) {
      const n = Number(len);
      if (this.buf.length < at + n) return;
      body = this.buf.toString('utf8', at, at + n);
      at += n;
    } else if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = parseInt(this.buf.toString('latin1', at, eol), 16);
        if (this.buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          at = eol + 4;
          break;
        }
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = '';
    } else return; // read-until-close bodies are not used by the targets
    this.buf = this.buf.subarray(at);
    const w = this.waiter;
    this.waiter = undefined;
    if (headers.get('connection')?.toLowerCase() === 'close') {
      this.socket?.destroy();
      this.socket = undefined;
    }
    w.resolve({ status, headers, body });
  }

  close(): void {
    this.socket?.destroy();
  }
}

const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

type Send = (id: number, name: string, args: object) => Promise<Reply>;

/** One HTTP client: a 2025-era session of its own, or 2026-07-28 stateless calls. */
async function httpClient(conn: RawConnection, era: HttpEra, extra: Record<string, string> = {}): Promise<Send> {
  if (era === '2026') {
    return (id, name, args) =>
      conn.request(
        { ...BASE_HEADERS, ...extra, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
        JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: ENVELOPE } }),
      );
  }
  const init = await conn.request(
    { ...BASE_HEADERS, ...extra },
    JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    }),
  );
  const sid = init.headers.get('mcp-session-id');
  if (init.status !== 200 || sid === undefined) throw new Error(`initialize failed: ${init.status} ${init.body.slice(0, 200)}`);
  const headers = { ...BASE_HEADERS, ...extra, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  conn.sessionHeaders = headers;
  await conn.request(headers, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
  return sessionCalls(conn, headers);
}

function sessionCalls(conn: RawConnection, headers: Record<string, string>): Send {
  return (id, name, args) =>
    conn.request(headers, JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }));
}

export interface HttpLoadOptions {
  /**
   * 2025-era only: every client (connection) calls in the one session the first
   * client opened, instead of a session each. Ids are kept unique per session.
   */
  readonly sharedSession?: boolean;
  /** Sent on every request besides the MCP ones (a proxy's, such as X-Forwarded-For). */
  readonly extraHeaders?: Record<string, string>;
}

export async function runHttp(
  url: string,
  era: HttpEra,
  concurrency: number,
  phase: Phase,
  call: { name: string; arguments: object; expect: string },
  opts: HttpLoadOptions = {},
): Promise<LoadResult> {
  const target = new URL(url);
  const rec = new Recorder();
  const conns = Array.from({ length: concurrency }, () => new RawConnection(target));
  let clients: Send[];
  if (opts.sharedSession && era === '2025') {
    const first = await httpClient(conns[0]!, era, opts.extraHeaders);
    const headers = conns[0]!.sessionHeaders!;
    clients = [first, ...conns.slice(1).map((c) => sessionCalls(c, headers))];
  } else clients = await Promise.all(conns.map((c) => httpClient(c, era, opts.extraHeaders)));
  const shared = opts.sharedSession === true && era === '2025';
  const loops = clients.map((send, k) => async (stop: () => boolean) => {
    // In a shared session, JSON-RPC ids must not collide across clients.
    let id = shared ? k * 1_000_000_000 + 1 : 1;
    while (!stop()) {
      const t = performance.now();
      try {
        const r = await send(id++, call.name, call.arguments);
        rec.record(performance.now() - t, r.status === 200 && r.body.includes(call.expect), `${r.status} ${r.body.slice(0, 200)}`);
      } catch (err) {
        rec.record(performance.now() - t, false, (err as Error).message);
      }
    }
  });
  try {
    return await runPhases(rec, phase, loops);
  } finally {
    // End the sessions (a gateway may hold a server process per session).
    await Promise.all(
      conns.map(async (c) => {
        if (c.sessionHeaders === undefined) return;
        const { 'content-type': _ct, ...h } = c.sessionHeaders;
        await Promise.race([c.request(h, '', 'DELETE').catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      }),
    );
    for (const c of conns) c.close();
  }
}

/**
 * Closed-loop clients that take the targets in turn, one call each: client k
 * sends its i-th call to target (k + i) mod n. Whatever else the machine does
 * meets every target alike, so the difference between two targets' figures
 * is what they differ by, not what the machine did while one of them was
 * measured. A result per target, in the order given. 2026-07-28 calls only
 * (no session to open per target and end afterwards).
 */
export async function runHttpInterleaved(
  urls: readonly string[],
  concurrency: number,
  phase: Phase,
  call: { name: string; arguments: object; expect: string },
): Promise<LoadResult[]> {
  const recs = urls.map(() => new Recorder());
  const conns = Array.from({ length: concurrency }, () => urls.map((u) => new RawConnection(new URL(u))));
  try {
    const clients = await Promise.all(conns.map((row) => Promise.all(row.map((c) => httpClient(c, '2026')))));
    const loops = clients.map((sends, k) => async (stop: () => boolean) => {
      let id = 1;
      for (let i = k; !stop(); i++) {
        const t = i % sends.length;
        const started = performance.now();
        try {
          const r = await sends[t]!(id++, call.name, call.arguments);
          recs[t]!.record(
            performance.now() - started,
            r.status === 200 && r.body.includes(call.expect),
            `${r.status} ${r.body.slice(0, 200)}`,
          );
        } catch (err) {
          recs[t]!.record(performance.now() - started, false, (err as Error).message);
        }
      }
    });
    return await runPhasesOf(recs, phase, loops);
  } finally {
    for (const c of conns.flat()) c.close();
  }
}

/** Waits until an MCP endpoint answers initialize. */
export async function waitServing(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const conn = new RawConnection(new URL(url));
    try {
      const r = await conn.request(
        BASE_HEADERS,
        JSON.stringify({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
        }),
      );
      if (r.status === 200) return;
    } catch {
      // not listening yet
    } finally {
      conn.close();
    }
    if (Date.now() > end) throw new Error(`${url} not serving after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
