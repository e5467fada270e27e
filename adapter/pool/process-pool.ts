// The pool of server processes as the endpoint uses it: a call goes to the
// least-busy ready process (or its session's own); when none can take it, it
// waits in one bounded queue (a full queue is overload, answered retryable)
// and is let in as places free up. Which processes run is the supervisor's;
// where sessions go is placement's.

import type { BackoffPolicy } from '../../lib/backoff.js';
import type { Logger } from '../../lib/log.js';
import type { AdapterMetrics, ProcessState } from '../metrics.js';
import type { ServerIdentity } from '../protocol/initialize-result.js';
import type { RpcNotification, RpcRequest } from '../protocol/jsonrpc-message.js';
import type { Call, PinnedSession } from './call.js';
import { CallQueue } from './call-queue.js';
import { ExclusiveHolds } from './exclusive-holds.js';
import { LeastBusyPicker } from './least-busy-picker.js';
import { PoolDrain } from './pool-drain.js';
import type { DeathReason, PoolWorker, WorkerHost } from './pool-worker.js';
import { ProcessSupervisor } from './process-supervisor.js';
import type { QueryOfDeathRegistry } from './query-of-death.js';
import { SessionPlacement } from './session-placement.js';

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
  /** Calls on processes from one client (CallSink.client); its further calls wait in the queue. */
  readonly maxInFlightPerClient?: number;
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
  /** Known queries of death: refused before they cost a process. */
  readonly poison?: QueryOfDeathRegistry;
}

const NOT_RUNNING = 'no server process is running (restarting after failures)';
const SHUTTING_DOWN = 'the adapter is shutting down';

/** `S` is the session type of calls: what `holderOf` hands back. */
export class ProcessPool<W extends PoolWorker, S extends PinnedSession> implements WorkerHost<W> {
  private readonly processes: ProcessSupervisor<W>;
  private readonly holds: ExclusiveHolds<S>;
  private readonly picker: LeastBusyPicker<W>;
  private readonly placement: SessionPlacement<W, S>;
  private readonly queue: CallQueue<Call<S>>;
  private readonly drain = new PoolDrain();
  private inFlightCount = 0;
  /** The solo call (Placement) on each slot's process. */
  private readonly solo = new Map<number, Call<S>>();
  /** Calls on processes per client, for the per-client bound. */
  private readonly byClient = new Map<string, number>();
  private readonly perClient: number;
  private readonly min: number;
  private readonly max: number;

  constructor(
    opts: PoolOptions,
    private readonly deps: PoolDeps<W>,
  ) {
    this.processes = new ProcessSupervisor<W>(opts, {
      createWorker: deps.createWorker,
      host: this,
      logger: deps.logger,
      metrics: deps.metrics,
      pinned: deps.pinned,
    });
    this.holds = new ExclusiveHolds<S>(opts.max);
    this.picker = new LeastBusyPicker(this.processes, this.holds, opts.maxInFlightPerProcess, (slot) => this.solo.has(slot));
    this.placement = new SessionPlacement(this.processes, this.holds, opts.maxInFlightPerProcess, deps);
    this.queue = new CallQueue<Call<S>>({ capacity: opts.maxQueue, timeoutMs: opts.queueTimeoutMs }, (call) => {
      const kind = this.processes.readyCount === 0 ? 'unavailable' : 'overload';
      call.fail({ kind, detail: `waited ${opts.queueTimeoutMs} ms for a free process`, written: false });
    });
    this.min = opts.min;
    this.max = opts.max;
    this.perClient = opts.maxInFlightPerClient ?? Number.MAX_SAFE_INTEGER;
  }

  start(): void {
    this.processes.start();
  }

  // ---- views ----

  get inFlight(): number {
    return this.inFlightCount;
  }

  get queueDepth(): number {
    return this.queue.size;
  }

  get readyCount(): number {
    return this.processes.readyCount;
  }

  /** Ready for traffic: a process is ready and the adapter is not draining. */
  get ready(): boolean {
    return !this.drain.active && !this.processes.isStopping && this.processes.readyCount > 0;
  }

  get isDraining(): boolean {
    return this.drain.active || this.processes.isStopping;
  }

  bounds(): { min: number; max: number } {
    return { min: this.min, max: this.max };
  }

  states(): Record<ProcessState, number> {
    return this.processes.states();
  }

  /** The server's identity, from the newest initialize result. */
  identity(): ServerIdentity | undefined {
    return this.processes.identity();
  }

  workerOf(slot: number): W | undefined {
    return this.processes.workerOf(slot);
  }

  readyWorkers(): W[] {
    return this.processes.readyWorkers();
  }

  whenReady(): Promise<void> {
    return this.processes.whenReady();
  }

  /** The session whose exclusive calls hold this process, if any. */
  holderOf(worker: W): S | undefined {
    return this.processes.workerAt(worker.slot) === worker ? this.holds.holder(worker.slot) : undefined;
  }

  /** The solo call (Placement) running on this process, if any. */
  soloCallOf(worker: W): Call<S> | undefined {
    return this.processes.workerAt(worker.slot) === worker ? this.solo.get(worker.slot) : undefined;
  }

  /** The slot a new session is pinned to; undefined when no process runs. */
  slotForSession(answering: boolean): number | undefined {
    return this.placement.slotForSession(answering);
  }

  // ---- calls ----

  submit(call: Call<S>): void {
    if (this.processes.isStopping) {
      call.fail({ kind: 'unavailable', detail: SHUTTING_DOWN, written: false });
      return;
    }
    const poison = this.deps.poison;
    if (poison !== undefined && poison.size > 0) {
      const why = poison.poisonedWhy(call.fingerprint());
      if (why !== undefined) {
        call.fail({ kind: 'poisoned', detail: `the same request failed here before: ${why}`, written: false });
        return;
      }
    }
    const worker = this.pick(call);
    if (worker !== undefined) {
      this.send(worker, call);
      return;
    }
    const pinned = call.init.placement === 'any' ? undefined : call.init.session?.slot;
    const pinnedState = pinned === undefined ? undefined : this.processes.stateOf(pinned);
    if (pinnedState !== undefined ? pinnedState === 'off' : !this.processes.anyRunning()) {
      call.fail({ kind: 'unavailable', detail: NOT_RUNNING, written: false });
      return;
    }
    if (!this.queue.offer(call)) {
      call.fail({
        kind: 'overload',
        detail: `every process is busy and the queue of ${this.queue.capacity} calls is full`,
        written: false,
      });
      return;
    }
    if (!this.drain.active && !this.atClientLimit(call)) this.processes.grow();
  }

  /** A call ended: free its place and let a waiting call in. */
  release(call: Call<S>): void {
    const worker = call.worker;
    if (worker !== undefined) {
      if (worker.release(call)) {
        this.inFlightCount--;
        const client = call.init.sink.client;
        if (client !== undefined) {
          const n = (this.byClient.get(client) ?? 1) - 1;
          if (n <= 0) this.byClient.delete(client);
          else this.byClient.set(client, n);
        }
        const session = call.init.session;
        if (call.init.placement === 'exclusive' && session !== undefined) this.holds.release(worker.slot, session);
        if (this.solo.get(worker.slot) === call) this.solo.delete(worker.slot);
        if (this.queue.size > 0) this.letWaitingIn();
        else if (this.inFlightCount === 0) this.drain.idle();
      }
      return;
    }
    this.queue.delete(call);
    if (this.inFlightCount === 0 && this.queue.size === 0) this.drain.idle();
  }

  /** Whether the call's client has its share of processes already: it waits, so that one client cannot hold every slot. */
  private atClientLimit(call: Call<S>): boolean {
    const client = call.init.sink.client;
    return client !== undefined && (this.byClient.get(client) ?? 0) >= this.perClient;
  }

  private pick(call: Call<S>): W | undefined {
    if (this.atClientLimit(call)) return undefined;
    if (call.init.placement === 'solo') return this.picker.pickIdle();
    const session = call.init.session;
    if (call.init.placement === 'any' || session === undefined) return this.picker.pick(session);
    return this.placement.pinnedWorker(session, call.init.placement === 'exclusive');
  }

  private send(worker: W, call: Call<S>): void {
    const session = call.init.session;
    if (call.init.placement === 'exclusive' && session !== undefined) this.holds.take(worker.slot, session);
    if (call.init.placement === 'solo') this.solo.set(worker.slot, call);
    this.inFlightCount++;
    const client = call.init.sink.client;
    if (client !== undefined) this.byClient.set(client, (this.byClient.get(client) ?? 0) + 1);
    worker.dispatch(call);
  }

  /** Waiting calls in arrival order, each to a process that can take it now. */
  private letWaitingIn(): void {
    let anyFull = false;
    for (const call of this.queue.entries()) {
      if (call.settled) {
        this.queue.delete(call);
        continue;
      }
      if ((call.init.placement === 'any' || call.init.placement === 'solo') && anyFull) continue;
      if (this.atClientLimit(call)) continue;
      const w = this.pick(call);
      if (w === undefined) {
        if (call.init.placement === 'any') anyFull = true;
        continue;
      }
      this.queue.delete(call);
      this.send(w, call);
    }
  }

  // ---- what processes report ----

  workerReady(worker: W): void {
    if (!this.processes.markReady(worker)) return;
    this.deps.workerReady(worker);
    if (this.queue.size > 0) this.letWaitingIn();
  }

  workerDead(worker: W, reason: DeathReason, detail: string): void {
    this.deps.workerGone(worker);
    const outcome = this.processes.markDead(worker, reason, detail);
    if (outcome === 'stale') return;
    this.holds.clear(worker.slot);
    this.solo.delete(worker.slot);
    if (outcome === 'stopped' || this.queue.size === 0) return;
    if (this.processes.anyRunning()) {
      this.letWaitingIn();
      return;
    }
    // Nothing can take the waiting calls soon: answer them now, so that Envoy
    // retries them on another replica instead of waiting out the queue.
    // Calls pinned to a session's slot wait for its restart.
    for (const call of this.queue.entries()) {
      if (call.init.placement !== 'any' && call.init.placement !== 'solo') continue;
      this.queue.delete(call);
      call.fail({ kind: 'unavailable', detail: NOT_RUNNING, written: false });
    }
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
    this.drain.begin();
  }

  /** Resolves when nothing is in flight or queued, or at the deadline; true if idle. */
  waitIdle(deadlineMs: number): Promise<boolean> {
    return this.drain.waitIdle(this.inFlightCount === 0 && this.queue.size === 0, deadlineMs);
  }

  /** Fails what waits, stops every process (stdin close, SIGTERM, SIGKILL). */
  async stop(): Promise<void> {
    this.processes.beginStop();
    for (const call of this.queue.takeAll()) call.fail({ kind: 'unavailable', detail: SHUTTING_DOWN, written: false });
    await this.processes.stopProcesses();
  }
}
