// The pool of server processes: between `min` and `max` slots, each holding
// one process. Calls go to the least-busy ready process; when every process
// is at its in-flight limit they wait in one bounded queue (a full queue is
// overload, answered retryable). Dead processes restart with exponential
// backoff and jitter; idle extra slots above `min` are stopped again.
import type { Logger } from '../../lib/log.js';
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.js';
import type { Call } from './call.js';
import type { RpcNotification, RpcRequest } from '../protocol/jsonrpc-message.js';
import type { AdapterMetrics, ProcessState } from '../metrics.js';
import type { ServerIdentity } from '../protocol/initialize-result.js';
import type { DeathReason, WorkerHost, WorkerState } from './mcp-worker.js';

export interface PoolOptions {
  readonly min: number;
  readonly max: number;
  readonly maxInFlightPerProcess: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  /** An extra slot (above min) idle this long is stopped. */
  readonly idleStopMs: number;
  readonly stopGraceMs: number;
  readonly backoff: BackoffPolicy;
  /** A process ready this long has its failure count reset. */
  readonly stableAfterMs: number;
}

/** What the pool needs of a process (McpWorker in production, fakes in unit tests). */
export interface PoolWorker {
  readonly slot: number;
  readonly pid: number;
  readonly state: WorkerState;
  readonly identity: ServerIdentity | undefined;
  readonly protocolVersion: string;
  readonly readyAt: number;
  readonly lastBusyAt: number;
  /** Client calls in flight, by process-local id. */
  readonly calls: ReadonlyMap<number, Call>;
  owner: object | undefined;
  ownerCalls: number;
  dispatch(call: Call): void;
  release(call: Call): boolean;
  stop(graceMs: number): Promise<void>;
}

export interface PoolDeps<W extends PoolWorker> {
  createWorker(slot: number, host: WorkerHost<W>): W;
  readonly logger: Logger;
  readonly metrics: AdapterMetrics;
  serverRequest(worker: W, line: string, msg: RpcRequest): void;
  serverNotification(worker: W, line: string, msg: RpcNotification): void;
  /** A process became ready: replay session state it must hold. */
  workerReady(worker: W): void;
  workerGone(worker: W): void;
  /** Sessions pinned to a slot (a slot with sessions is never scaled down). */
  pinned(slot: number): { readonly all: number; readonly answering: number };
}

type SlotState = 'off' | ProcessState;

interface Slot<W> {
  readonly index: number;
  state: SlotState;
  worker: W | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

export class ProcessPool<W extends PoolWorker> implements WorkerHost<W> {
  private readonly slots: Slot<W>[];
  private readonly queue: Call[] = [];
  private readonly queueTimers = new Map<Call, NodeJS.Timeout>();
  private rr = 0;
  private stopping = false;
  private draining = false;
  private inFlightCount = 0;
  private lastIdentity: ServerIdentity | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly readyWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly opts: PoolOptions,
    private readonly deps: PoolDeps<W>,
  ) {
    this.slots = Array.from({ length: opts.max }, (_, index) => ({ index, state: 'off' as SlotState, worker: undefined, failures: 0, timer: undefined }) as Slot<W>);
  }

  start(): void {
    for (let i = 0; i < this.opts.min; i++) this.startSlot(this.slots[i]!);
    if (this.opts.max > this.opts.min) {
      this.idleTimer = setInterval(() => this.scaleDown(), Math.max(100, Math.min(5_000, this.opts.idleStopMs / 2)));
      this.idleTimer.unref();
    }
  }

  // ---- views ----

  get inFlight(): number {
    return this.inFlightCount;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  get readyCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.state === 'ready') n++;
    return n;
  }

  /** Ready for traffic: a process is ready and the adapter is not draining. */
  get ready(): boolean {
    return !this.draining && !this.stopping && this.readyCount > 0;
  }

  get isDraining(): boolean {
    return this.draining || this.stopping;
  }

  bounds(): { min: number; max: number } {
    return { min: this.opts.min, max: this.opts.max };
  }

  states(): Record<ProcessState, number> {
    const out: Record<ProcessState, number> = { starting: 0, ready: 0, backoff: 0, stopping: 0 };
    for (const s of this.slots) if (s.state !== 'off') out[s.state]++;
    return out;
  }

  /** The server's identity, from the newest initialize result. */
  identity(): ServerIdentity | undefined {
    return this.lastIdentity;
  }

  workerOf(slot: number): W | undefined {
    const s = this.slots[slot];
    return s?.state === 'ready' ? s.worker : undefined;
  }

  readyWorkers(): W[] {
    const out: W[] = [];
    for (const s of this.slots) if (s.state === 'ready' && s.worker !== undefined) out.push(s.worker);
    return out;
  }

  /** Resolves once a process is ready (or the pool stops). */
  whenReady(): Promise<void> {
    if (this.readyCount > 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  // ---- calls ----

  submit(call: Call): void {
    if (this.stopping) {
      call.fail({ kind: 'unavailable', detail: 'the adapter is shutting down', written: false });
      return;
    }
    const worker = this.pick(call);
    if (worker !== undefined) {
      this.send(worker, call);
      return;
    }
    const pinnedSlot = call.init.placement === 'any' ? undefined : this.slots[call.init.session!.slot];
    if (pinnedSlot !== undefined ? pinnedSlot.state === 'off' : !this.slots.some((s) => s.state === 'ready' || s.state === 'starting')) {
      call.fail({ kind: 'unavailable', detail: 'no server process is running (restarting after failures)', written: false });
      return;
    }
    if (this.queue.length >= this.opts.maxQueue) {
      call.fail({ kind: 'overload', detail: `every process is busy and the queue of ${this.opts.maxQueue} calls is full`, written: false });
      return;
    }
    this.queue.push(call);
    const timer = setTimeout(() => {
      this.queueTimers.delete(call);
      const i = this.queue.indexOf(call);
      if (i >= 0) this.queue.splice(i, 1);
      const kind = this.readyCount === 0 ? 'unavailable' : 'overload';
      call.fail({ kind, detail: `waited ${this.opts.queueTimeoutMs} ms for a free process`, written: false });
    }, this.opts.queueTimeoutMs);
    timer.unref();
    this.queueTimers.set(call, timer);
    this.scaleUp();
  }

  /** A call ended: free its place and let a waiting call in. */
  release(call: Call): void {
    const worker = call.workerRef as W | undefined;
    if (worker !== undefined) {
      if (worker.release(call)) {
        this.inFlightCount--;
        if (call.init.placement === 'exclusive' && worker.owner === call.init.session) {
          worker.ownerCalls--;
          if (worker.ownerCalls <= 0) {
            worker.owner = undefined;
            worker.ownerCalls = 0;
          }
        }
        if (this.queue.length > 0) this.drainQueue();
        else if (this.inFlightCount === 0) this.notifyIdle();
      }
      return;
    }
    const timer = this.queueTimers.get(call);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.queueTimers.delete(call);
      const i = this.queue.indexOf(call);
      if (i >= 0) this.queue.splice(i, 1);
    }
    if (this.inFlightCount === 0 && this.queue.length === 0) this.notifyIdle();
  }

  private send(worker: W, call: Call): void {
    if (call.init.placement === 'exclusive') {
      worker.owner = call.init.session;
      worker.ownerCalls++;
    }
    this.inFlightCount++;
    worker.dispatch(call);
  }

  private pick(call: Call): W | undefined {
    const max = this.opts.maxInFlightPerProcess;
    const session = call.init.session;
    if (call.init.placement !== 'any') {
      const w = this.slots[session!.slot]?.worker;
      if (w === undefined || w.state !== 'ready' || w.calls.size >= max) return undefined;
      if (call.init.placement === 'exclusive' && w.owner !== undefined && w.owner !== session) return undefined;
      return w;
    }
    const n = this.slots.length;
    let best: W | undefined;
    let bestLoad = Infinity;
    const start = this.rr;
    this.rr = this.rr + 1 >= n ? 0 : this.rr + 1;
    for (let k = 0; k < n; k++) {
      const w = this.slots[(start + k) % n]!.worker;
      if (w === undefined || w.state !== 'ready') continue;
      let load = w.calls.size;
      if (load >= max) continue;
      // Keep foreign calls off a process whose server may be asking one
      // session's client something: its request must not look like theirs.
      if (w.owner !== undefined && w.owner !== session) load += max;
      if (load < bestLoad) {
        best = w;
        bestLoad = load;
        if (load === 0) break;
      }
    }
    return best;
  }

  private drainQueue(): void {
    let anyFull = false;
    for (let i = 0; i < this.queue.length; ) {
      const call = this.queue[i]!;
      if (call.settled) {
        this.queue.splice(i, 1);
        continue;
      }
      if (call.init.placement === 'any' && anyFull) {
        i++;
        continue;
      }
      const w = this.pick(call);
      if (w === undefined) {
        if (call.init.placement === 'any') anyFull = true;
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      const timer = this.queueTimers.get(call);
      if (timer !== undefined) clearTimeout(timer);
      this.queueTimers.delete(call);
      this.send(w, call);
    }
  }

  // ---- sessions ----

  /**
   * The slot a new session is pinned to: the one with the fewest sessions; a
   * session whose client answers server requests prefers a slot without such
   * sessions, and gets a new slot when all have one and the pool may grow.
   */
  slotForSession(answering: boolean): number | undefined {
    let best: Slot<W> | undefined;
    let bestScore = Infinity;
    for (const s of this.slots) {
      if (s.state !== 'ready' && s.state !== 'starting') continue;
      const p = this.deps.pinned(s.index);
      const score = answering ? p.answering * 1_000_000 + p.all : p.all;
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    if (best === undefined) return undefined;
    if (answering && this.deps.pinned(best.index).answering > 0) {
      const spare = this.slots.find((s) => s.state === 'off');
      if (spare !== undefined && !this.stopping) {
        this.startSlot(spare);
        return spare.index;
      }
    }
    return best.index;
  }

  // ---- lifecycle of processes ----

  private startSlot(slot: Slot<W>): void {
    slot.timer = undefined;
    slot.state = 'starting';
    try {
      slot.worker = this.deps.createWorker(slot.index, this);
    } catch (err) {
      slot.worker = undefined;
      this.deps.logger.error({ slot: slot.index, err: (err as Error).message }, 'could not start server process');
      this.scheduleRestart(slot, 'init_exit', (err as Error).message, false);
    }
  }

  private scaleUp(): void {
    if (this.stopping || this.draining) return;
    if (this.slots.some((s) => s.state === 'starting')) return;
    const spare = this.slots.find((s) => s.state === 'off');
    if (spare === undefined) return;
    this.deps.logger.info({ slot: spare.index }, 'all processes busy: growing the pool');
    this.startSlot(spare);
  }

  private scaleDown(): void {
    if (this.stopping) return;
    let active = this.slots.filter((s) => s.state !== 'off').length;
    const now = Date.now();
    // Slots below min are the pool's floor; only the extra ones shrink.
    for (let i = this.slots.length - 1; i >= this.opts.min && active > this.opts.min; i--) {
      const s = this.slots[i]!;
      const w = s.worker;
      if (s.state !== 'ready' || w === undefined || w.calls.size > 0 || now - w.lastBusyAt < this.opts.idleStopMs) continue;
      if (this.deps.pinned(s.index).all > 0) continue;
      this.deps.logger.info({ slot: s.index }, 'idle extra process: shrinking the pool');
      s.state = 'stopping';
      active--;
      void w.stop(this.opts.stopGraceMs);
    }
  }

  workerReady(worker: W): void {
    const slot = this.slots[worker.slot]!;
    if (slot.worker !== worker) return;
    slot.state = 'ready';
    if (worker.identity !== undefined) this.lastIdentity = worker.identity;
    this.deps.workerReady(worker);
    for (const w of this.readyWaiters.splice(0)) w();
    if (this.queue.length > 0) this.drainQueue();
  }

  workerDead(worker: W, reason: DeathReason, detail: string): void {
    const slot = this.slots[worker.slot]!;
    this.deps.workerGone(worker);
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    if (this.stopping || slot.state === 'stopping' || reason === 'stopped') {
      slot.state = 'off';
      return;
    }
    const stable = worker.readyAt > 0 && Date.now() - worker.readyAt > this.opts.stableAfterMs;
    this.scheduleRestart(slot, reason, detail, stable);
    if (this.queue.length === 0) return;
    if (this.slots.some((s) => s.state === 'ready' || s.state === 'starting')) {
      this.drainQueue();
      return;
    }
    // Nothing can take the waiting calls soon: answer them now, so that Envoy
    // retries them on another replica instead of waiting out the queue.
    // Calls pinned to a session's slot wait for its restart.
    for (let i = 0; i < this.queue.length; ) {
      const call = this.queue[i]!;
      if (call.init.placement !== 'any') {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      clearTimeout(this.queueTimers.get(call));
      this.queueTimers.delete(call);
      call.fail({ kind: 'unavailable', detail: 'no server process is running (restarting after failures)', written: false });
    }
  }

  private scheduleRestart(slot: Slot<W>, reason: DeathReason, detail: string, stable: boolean): void {
    slot.failures = stable ? 1 : slot.failures + 1;
    const delay = backoffDelay(this.opts.backoff, slot.failures);
    slot.state = 'backoff';
    this.deps.metrics.restart(reason);
    this.deps.logger.warn({ slot: slot.index, reason, detail, failures: slot.failures, restartInMs: delay }, 'server process failed; restarting after backoff');
    slot.timer = setTimeout(() => {
      if (!this.stopping) this.startSlot(slot);
    }, delay);
    slot.timer.unref();
  }

  serverRequest(worker: W, line: string, msg: RpcRequest): void {
    this.deps.serverRequest(worker, line, msg);
  }

  serverNotification(worker: W, line: string, msg: RpcNotification): void {
    this.deps.serverNotification(worker, line, msg);
  }

  // ---- shutdown ----

  /** Stops taking new calls that are not bound to a session; readiness turns false. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Resolves when nothing is in flight or queued, or at the deadline; true if idle. */
  async waitIdle(deadlineMs: number): Promise<boolean> {
    if (this.inFlightCount === 0 && this.queue.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    return idle;
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Fails what waits, stops every process (stdin close, SIGTERM, SIGKILL). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    for (const w of this.readyWaiters.splice(0)) w();
    for (const call of this.queue.splice(0)) {
      const timer = this.queueTimers.get(call);
      if (timer !== undefined) clearTimeout(timer);
      this.queueTimers.delete(call);
      call.fail({ kind: 'unavailable', detail: 'the adapter is shutting down', written: false });
    }
    const stops: Promise<void>[] = [];
    for (const s of this.slots) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
      if (s.worker !== undefined) {
        s.state = 'stopping';
        stops.push(s.worker.stop(this.opts.stopGraceMs));
      } else s.state = 'off';
    }
    await Promise.all(stops);
  }
}
