// One pooled server process seen as an MCP peer: the adapter is its one
// client. It initializes the process once, watches it with pings, writes
// calls with process-local ids and hands every message back to the call, the
// pool or the server-message router it belongs to.

import { isUtf8 } from 'node:buffer';
import { type Logger, loggableCommand } from '../../lib/log.js';
import { LEGACY_VERSIONS } from '../../lib/mesh-contracts.js';
import type { AdapterMetrics } from '../metrics.js';
import { readInitializeResult, type ServerIdentity } from '../protocol/initialize-result.js';
import { scanJsonBytes } from '../protocol/json-scan.js';
import { IdAllocator } from '../protocol/jsonrpc-ids.js';
import { type RpcResponse, readMessage } from '../protocol/jsonrpc-message.js';
import type { Call } from './call.js';
import type { OomKills } from './oom-kills.js';
import type { DeathReason, PoolWorker, WorkerHost, WorkerState } from './pool-worker.js';
import { judgeDeath, type QueryOfDeathRegistry } from './query-of-death.js';
import { type ExitInfo, StdioProcess } from './stdio-process.js';

export interface WorkerOptions {
  readonly slot: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** What the adapter declares as the one client of the process. */
  readonly clientCapabilities: Record<string, unknown>;
  readonly clientInfo: { readonly name: string; readonly version: string };
  readonly initTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  /** Missed pings in a row that make a process hung. */
  readonly pingMisses: number;
  readonly maxLineBytes: number;
  /** Lines from this size on are read as bytes, not decoded and parsed (default LARGE_LINE_BYTES). */
  readonly largeLineBytes?: number;
  /** Queries of death seen by this adapter. */
  readonly poison?: QueryOfDeathRegistry;
  /**
   * Takes the suspects of a death on its own (crash-replay.ts) to replay them
   * here, one at a time; returns those it does not take. `fallback` is the
   * answer each would have had.
   */
  readonly replay?: (from: McpWorker, calls: readonly Call[], fallback: (call: Call) => void) => Call[];
  /** Tells an OOM kill (SIGKILL from the kernel: the process's own doing) from a kill from outside. */
  readonly oomKills?: OomKills;
  readonly logger: Logger;
  readonly metrics: AdapterMetrics;
  readonly host: WorkerHost<McpWorker>;
}

interface Internal {
  readonly resolve: (msg: RpcResponse) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const STDERR_TAIL = 20;
/** Requests up to this size are remembered once answered (see rememberAnswered). */
const ANSWER_MEMORY_MAX_BODY = 64 * 1024;

/** A response line this large is answered from its bytes (see Call.respondBytes). */
export const LARGE_LINE_BYTES = 1024 * 1024;
/** Signals another process sends: the server did not end itself. */
const EXTERNAL_SIGNALS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);
const HEAD_ID = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(\d{1,15})\s*[,}]/;
const TAIL_ID = /[,{]\s*"id"\s*:\s*(\d{1,15})\s*\}\s*$/;

/** The top-level id of an overlong line, read from its first or last bytes. */
export function idFromEdges(head: Buffer, tail: Buffer): number | undefined {
  const m = HEAD_ID.exec(head.toString('latin1')) ?? TAIL_ID.exec(tail.toString('latin1'));
  return m === null ? undefined : Number(m[1]);
}
const LOG_LINES_PER_SECOND = 50;

/** A call the replayer may run again here: not ended, safe to run twice, and not bound to a session's process. */
function replayableHere(call: Call): boolean {
  return !call.settled && call.init.placement === 'any' && call.replaySafe();
}

export class McpWorker implements PoolWorker {
  private lifecycle: WorkerState = 'starting';
  private server: ServerIdentity | undefined;
  private version: string = LEGACY_VERSIONS[0];
  private readySince = 0;
  private busySince = Date.now();
  /** Client calls written to the process and not answered. */
  private readonly inFlight = new Map<number, Call>();
  private readonly proc: StdioProcess;
  private readonly ids = new IdAllocator();
  private readonly internal = new Map<number, Internal>();
  private readonly stderrTail: string[] = [];
  private lastInvalidLine: string | undefined;
  private invalidLines = 0;
  private deathReason: DeathReason | undefined;
  private deathDetail = '';
  private pingTimer: NodeJS.Timeout | undefined;
  private pingMissed = 0;
  private pinging = false;
  private lastHeard = Date.now();
  private logBudget = LOG_LINES_PER_SECOND;
  private logWindow = Date.now();
  private readonly log: Logger;

  constructor(private readonly opts: WorkerOptions) {
    this.proc = new StdioProcess({
      command: opts.command,
      args: opts.args,
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      maxLineBytes: opts.maxLineBytes,
      onLine: (line) => this.onLine(line),
      onStderrLine: (line) => this.onStderr(line),
      onOverlongLine: (bytes, head, tail) => this.overlongLine(bytes, head, tail),
      largeLines: { threshold: opts.largeLineBytes ?? LARGE_LINE_BYTES, emit: (line) => this.onLargeLine(line) },
      onExit: (info) => this.onExit(info),
    });
    this.opts.oomKills?.resync();
    this.log = opts.logger.child({ slot: opts.slot, serverPid: this.proc.pid });
    this.log.info(loggableCommand([opts.command, ...opts.args]), 'server process started');
    void this.initialize();
  }

  get slot(): number {
    return this.opts.slot;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get state(): WorkerState {
    return this.lifecycle;
  }

  get identity(): ServerIdentity | undefined {
    return this.server;
  }

  /** The protocol version the server chose in its initialize result. */
  get protocolVersion(): string {
    return this.version;
  }

  get readyAt(): number {
    return this.readySince;
  }

  get lastBusyAt(): number {
    return this.busySince;
  }

  get calls(): ReadonlyMap<number, Call> {
    return this.inFlight;
  }

  /** Writes a call with a fresh process-local id. */
  dispatch(call: Call): void {
    const id = this.ids.next();
    const text = call.writeTo(this, id);
    this.inFlight.set(id, call);
    this.busySince = Date.now();
    this.proc.write(text);
  }

  /** Forgets a settled call; true if it was in flight here. */
  release(call: Call): boolean {
    if (call.worker !== this || this.inFlight.get(call.localId) !== call) return false;
    this.inFlight.delete(call.localId);
    this.busySince = Date.now();
    return true;
  }

  /** Tells the server to stop working on a call nobody waits for any more. */
  cancel(call: Call, reason: string): void {
    if (this.lifecycle !== 'ready' || call.worker !== this) return;
    this.proc.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.localId, reason } }));
  }

  /** Writes a message that needs no answer routing (a client's response or notification). */
  send(text: string): boolean {
    if (this.lifecycle === 'dead' || this.lifecycle === 'stopping') return false;
    this.proc.write(text);
    return true;
  }

  /** A request of the adapter's own (ping, tools/list, replayed subscriptions). */
  request(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<RpcResponse> {
    if (this.lifecycle === 'dead' || this.lifecycle === 'stopping') return Promise.reject(new Error('process is gone'));
    const id = this.ids.next();
    return new Promise<RpcResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.internal.delete(id);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.internal.set(id, { resolve, reject, timer });
      this.proc.write(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }));
    });
  }

  async stop(graceMs: number): Promise<void> {
    if (this.lifecycle === 'dead') return;
    if (this.deathReason === undefined) {
      this.deathReason = 'stopped';
      this.deathDetail = 'stopped by the adapter';
    }
    this.lifecycle = 'stopping';
    this.stopPings();
    await this.proc.stop(graceMs);
  }

  /** Kills the process group at once; the exit is reported as `reason`. */
  die(reason: DeathReason, detail: string): void {
    if (this.deathReason === undefined) {
      this.deathReason = reason;
      this.deathDetail = detail;
    }
    this.proc.kill();
  }

  /** Last stderr lines, for error messages. */
  stderrSummary(): string {
    return this.stderrTail.length === 0 ? '(no stderr output)' : this.stderrTail.join(' | ');
  }

  private async initialize(): Promise<void> {
    let res: RpcResponse;
    try {
      res = await this.request(
        'initialize',
        { protocolVersion: LEGACY_VERSIONS[0], capabilities: this.opts.clientCapabilities, clientInfo: this.opts.clientInfo },
        this.opts.initTimeoutMs,
      );
    } catch (err) {
      if (this.lifecycle !== 'starting') return;
      const garbage =
        this.invalidLines > 0
          ? `; stdout had ${this.invalidLines} line(s) that are not JSON-RPC, last: ${JSON.stringify(this.lastInvalidLine)}`
          : '';
      this.die('init_timeout', `${(err as Error).message}${garbage}; stderr: ${this.stderrSummary()}`);
      return;
    }
    if (this.lifecycle !== 'starting') return;
    const init = readInitializeResult(res);
    if (!init.ok) {
      this.die('init_error', init.problem);
      return;
    }
    this.version = init.protocolVersion;
    this.server = init.identity;
    this.proc.write('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    this.lifecycle = 'ready';
    this.readySince = Date.now();
    this.startPings();
    this.log.info({ protocolVersion: this.version, server: this.server?.serverInfo }, 'server process ready');
    this.opts.host.workerReady(this);
  }

  private startPings(): void {
    if (this.opts.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => void this.ping(), this.opts.pingIntervalMs);
    this.pingTimer.unref();
  }

  private stopPings(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }

  private async ping(): Promise<void> {
    if (this.lifecycle !== 'ready' || this.pinging) return;
    // A process that spoke within the interval is alive: no need to ask.
    if (Date.now() - this.lastHeard < this.opts.pingIntervalMs / 2) {
      this.pingMissed = 0;
      return;
    }
    this.pinging = true;
    try {
      await this.request('ping', undefined, this.opts.pingTimeoutMs);
      this.pingMissed = 0;
    } catch {
      if (this.lifecycle !== 'ready') return;
      this.pingMissed++;
      this.log.warn({ missed: this.pingMissed }, 'server process did not answer ping');
      if (this.pingMissed >= this.opts.pingMisses)
        this.die('hang', `no answer to ${this.pingMissed} pings in a row (timeout ${this.opts.pingTimeoutMs} ms each)`);
    } finally {
      this.pinging = false;
    }
  }

  /**
   * A line over --max-line-bytes, skipped: the request it answers is the
   * fault (a query of death), not the process, which goes on serving.
   */
  private overlongLine(bytes: number, head: Buffer, tail: Buffer): void {
    this.lastHeard = Date.now();
    const detail = `the server's answer is ${bytes} bytes, over the adapter's --max-line-bytes (${this.opts.maxLineBytes})`;
    const id = idFromEdges(head, tail);
    const own = id === undefined ? undefined : this.internal.get(id);
    if (own !== undefined && id !== undefined) {
      this.internal.delete(id);
      clearTimeout(own.timer);
      own.reject(new Error(detail));
      return;
    }
    let call = id === undefined ? undefined : this.inFlight.get(id);
    if (call === undefined && this.inFlight.size === 1) call = this.inFlight.values().next().value;
    if (call !== undefined) {
      this.opts.poison?.poison(call.fingerprint(), detail);
      this.log.warn(
        { bytes, method: call.init.method, tool: call.init.tool },
        'server answer over the line limit; the call is answered as a query of death, the process keeps serving',
      );
      call.fail({ kind: 'poisoned', detail, written: true });
      return;
    }
    if (this.inFlight.size === 0) {
      this.invalid(`(a line of ${bytes} bytes, over --max-line-bytes)`);
      return;
    }
    // Several calls in flight and no way to tell whose answer it was.
    this.die('protocol', `wrote a stdout line of more than ${this.opts.maxLineBytes} bytes (${bytes}) that names no call in flight`);
  }

  /** A large line: a response goes back from its bytes; anything else takes the usual path. */
  private onLargeLine(line: Buffer): void {
    if (isUtf8(line) && line.indexOf(13) < 0) {
      const scan = scanJsonBytes(line);
      if (scan === undefined) {
        this.lastHeard = Date.now();
        this.invalid(line.toString('utf8', 0, 200));
        return;
      }
      const id = scan.top.get('id');
      const version = scan.top.get('jsonrpc');
      if (
        id !== undefined &&
        version !== undefined &&
        !scan.top.has('method') &&
        line.toString('latin1', version[0], version[1]) === '"2.0"'
      ) {
        const idText = line.toString('latin1', id[0], id[1]);
        const call = /^\d{1,15}$/.test(idText) ? this.inFlight.get(Number(idText)) : undefined;
        if (call !== undefined) {
          this.lastHeard = Date.now();
          if (call.respondBytes(line, scan)) {
            this.rememberAnswered(call);
            return;
          }
        }
      }
    }
    this.onLine(line.toString('utf8'));
  }

  /**
   * An answered request is remembered as no killer (query-of-death.ts).
   * Bodies over ANSWER_MEMORY_MAX_BODY are not, so that fingerprinting never
   * costs a large answer its own pass over the request.
   */
  private rememberAnswered(call: Call): void {
    if (this.opts.poison === undefined || call.init.body.text.length > ANSWER_MEMORY_MAX_BODY) return;
    this.opts.poison.recordAnswered(call.fingerprint());
  }

  /** A call of this process timed out: the request's fault if it did so before here, or is a proxy's retry. */
  timedOutOnItsOwn(call: Call): boolean {
    const poison = this.opts.poison;
    if (poison === undefined) return false;
    const fp = call.fingerprint();
    if (poison.excusedByEarlierAnswer(fp)) return false;
    const again = poison.strike(fp);
    if (!again && call.init.sink.retried !== true) return false;
    poison.poison(fp, 'it timed out before');
    return true;
  }

  private onLine(line: string): void {
    this.lastHeard = Date.now();
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.invalid(line);
      return;
    }
    const msg = readMessage(value);
    switch (msg.kind) {
      case 'response': {
        if (typeof msg.id === 'number') {
          const call = this.inFlight.get(msg.id);
          if (call !== undefined) {
            call.respond(line, msg);
            this.rememberAnswered(call);
            return;
          }
          const own = this.internal.get(msg.id);
          if (own !== undefined) {
            this.internal.delete(msg.id);
            clearTimeout(own.timer);
            own.resolve(msg);
            return;
          }
        }
        // A late answer to a call that was cancelled or timed out.
        this.log.debug({ id: msg.id }, 'response for no call in flight, dropped');
        return;
      }
      case 'notification':
        if (msg.method === 'notifications/progress') {
          const token = msg.params?.['progressToken'];
          const call = typeof token === 'number' ? this.inFlight.get(token) : undefined;
          if (call !== undefined) call.progress(msg);
          return;
        }
        this.opts.host.serverNotification(this, line, msg);
        return;
      case 'request':
        this.opts.host.serverRequest(this, line, msg);
        return;
      case 'invalid':
        this.invalid(line);
        return;
    }
  }

  private invalid(line: string): void {
    this.invalidLines++;
    this.lastInvalidLine = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    this.opts.metrics.invalidStdoutLine();
    if (this.allowLog())
      this.log.warn(
        { line: this.lastInvalidLine },
        'server wrote a stdout line that is not a JSON-RPC message; ignored (servers must log to stderr)',
      );
  }

  private onStderr(line: string): void {
    this.stderrTail.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
    if (this.allowLog()) this.log.info({ stderr: line }, 'server stderr');
  }

  private allowLog(): boolean {
    const now = Date.now();
    if (now - this.logWindow >= 1_000) {
      this.logWindow = now;
      this.logBudget = LOG_LINES_PER_SECOND;
    }
    return this.logBudget-- > 0;
  }

  private onExit(info: ExitInfo): void {
    const wasReady = this.lifecycle === 'ready';
    const wasStarting = this.lifecycle === 'starting';
    this.lifecycle = 'dead';
    this.stopPings();
    // Only an exit nobody here asked for: the adapter's own kills (hang, protocol) and stops have a reason already.
    const oom = this.deathReason === undefined && info.signal === 'SIGKILL' && this.opts.oomKills?.killedThisOne() === true;
    const how = oom
      ? 'was killed by the OOM killer (SIGKILL: it ran out of memory)'
      : info.signal !== null
        ? `killed by ${info.signal}`
        : `exited with code ${info.code}${info.code === 127 ? ' (command not found)' : info.code === 126 ? ' (command not executable)' : ''}`;
    let reason = this.deathReason;
    let detail = this.deathDetail;
    if (reason === undefined) {
      reason = wasStarting ? 'init_exit' : 'crash';
      detail = `${wasStarting ? 'exited before answering initialize' : 'exited'}: ${how}; stderr: ${this.stderrSummary()}`;
    }
    for (const own of this.internal.values()) {
      clearTimeout(own.timer);
      own.reject(new Error(`process ${how}`));
    }
    this.internal.clear();
    const failure = {
      kind: 'crashed' as const,
      detail: `${reason === 'hang' ? 'the process hung and was killed' : `the process ${how}`}`,
      written: true,
    };
    // The process ended itself (an exit, a crash signal, a hang, a broken
    // line) rather than being killed from outside: a call in flight may be
    // its cause, and replaying it would cost a process on every replica.
    const onItsOwn =
      reason === 'hang' ||
      reason === 'protocol' ||
      (reason === 'crash' && (oom || info.signal === null || !EXTERNAL_SIGNALS.has(info.signal)));
    const calls = [...this.inFlight.values()];
    const poison = this.opts.poison;
    const verdicts =
      onItsOwn && poison !== undefined
        ? judgeDeath(
            poison,
            calls.filter((c) => !c.settled).map((c) => ({ fingerprint: c.fingerprint(), retried: c.init.sink.retried === true })),
          )
        : undefined;
    const suspects: Call[] = [];
    for (const call of calls) {
      const verdict = verdicts?.get(call.fingerprint());
      if (verdict?.guilty === true) {
        if (verdict.remembered) poison?.poison(call.fingerprint(), `${failure.detail} with it in flight before`);
        call.fail({ kind: 'poisoned', detail: `${failure.detail}, and ${verdict.why}`, written: true });
        continue;
      }
      // Replayed here rather than by Envoy elsewhere: a killer among them then costs this replica only.
      if (verdict?.suspect === true && this.opts.replay !== undefined && replayableHere(call)) {
        suspects.push(call);
        continue;
      }
      call.fail(failure);
    }
    const notTaken = suspects.length > 0 ? this.opts.replay!(this, suspects, (c) => c.fail(failure)) : [];
    for (const call of notTaken) call.fail(failure);
    // What the replayer took stays listed here until it is written again, so that the pool's release finds it.
    const taken = new Set(suspects);
    for (const [id, call] of this.inFlight) if (!taken.has(call) || call.settled) this.inFlight.delete(id);
    if (reason !== 'stopped') this.log.error({ reason, detail, wasReady }, 'server process ended');
    else this.log.info('server process stopped');
    this.opts.host.workerDead(this, reason, detail);
  }
}
