// The pool's slots and the process in each: starting them, restarting a dead
// one with exponential backoff and jitter, growing by one when every process
// is busy, stopping idle extra slots above `min` again, and stopping all.
import { type BackoffPolicy, backoffDelay } from '../../lib/backoff.js';
import type { Logger } from '../../lib/log.js';
import type { AdapterMetrics, ProcessState } from '../metrics.js';
import type { ServerIdentity } from '../protocol/initialize-result.js';
import type { DeathReason, PoolWorker, WorkerHost } from './pool-worker.js';

export interface SupervisorOptions {
  readonly min: number;
  readonly max: number;
  /** An extra slot (above min) idle this long is stopped. */
  readonly idleStopMs: number;
  readonly stopGraceMs: number;
  readonly backoff: BackoffPolicy;
  /** A process ready this long has its failure count reset. */
  readonly stableAfterMs: number;
}

export interface SupervisorDeps<W> {
  createWorker(slot: number, host: WorkerHost<W>): W;
  /** Where the processes report (the pool). */
  readonly host: WorkerHost<W>;
  readonly logger: Logger;
  readonly metrics: AdapterMetrics;
  /** Sessions pinned to a slot (a slot with sessions is never scaled down). */
  pinned(slot: number): { readonly all: number; readonly answering: number };
}

export type SlotState = 'off' | ProcessState;

/** What became of a slot whose process died. */
export type DeathOutcome = 'stale' | 'stopped' | 'restarting';

interface Slot<W> {
  readonly index: number;
  state: SlotState;
  worker: W | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

export class ProcessSupervisor<W extends PoolWorker> {
  private readonly slots: Slot<W>[];
  private stopping = false;
  private lastIdentity: ServerIdentity | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly deps: SupervisorDeps<W>,
  ) {
    this.slots = Array.from(
      { length: opts.max },
      (_, index): Slot<W> => ({ index, state: 'off', worker: undefined, failures: 0, timer: undefined }),
    );
  }

  start(): void {
    for (let i = 0; i < this.opts.min; i++) this.startSlot(this.slots[i]!);
    if (this.opts.max > this.opts.min) {
      this.idleTimer = setInterval(() => this.scaleDown(), Math.max(100, Math.min(5_000, this.opts.idleStopMs / 2)));
      this.idleTimer.unref();
    }
  }

  // ---- views ----

  get size(): number {
    return this.slots.length;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  get readyCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.state === 'ready') n++;
    return n;
  }

  /** Whether a process is ready or starting (calls may wait for it). */
  anyRunning(): boolean {
    return this.slots.some((s) => s.state === 'ready' || s.state === 'starting');
  }

  stateOf(slot: number): SlotState | undefined {
    return this.slots[slot]?.state;
  }

  /** The slot's process in whatever state. */
  workerAt(slot: number): W | undefined {
    return this.slots[slot]?.worker;
  }

  /** The slot's process if it is ready. */
  workerOf(slot: number): W | undefined {
    const s = this.slots[slot];
    return s?.state === 'ready' ? s.worker : undefined;
  }

  readyWorkers(): W[] {
    const out: W[] = [];
    for (const s of this.slots) if (s.state === 'ready' && s.worker !== undefined) out.push(s.worker);
    return out;
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

  /** Resolves once a process is ready (or the pool stops). */
  whenReady(): Promise<void> {
    if (this.readyCount > 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  // ---- growing and shrinking ----

  /** Every process is busy: one more slot starts, unless one is starting already. */
  grow(): void {
    if (this.stopping) return;
    if (this.slots.some((s) => s.state === 'starting')) return;
    const spare = this.slots.find((s) => s.state === 'off');
    if (spare === undefined) return;
    this.deps.logger.info({ slot: spare.index }, 'all processes busy: growing the pool');
    this.startSlot(spare);
  }

  /** Starts a slot that is off; its index, or undefined when none is (or the pool stops). */
  startSpare(): number | undefined {
    const spare = this.slots.find((s) => s.state === 'off');
    if (spare === undefined || this.stopping) return undefined;
    this.startSlot(spare);
    return spare.index;
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

  // ---- what processes report ----

  /** False when the process is no longer its slot's. */
  markReady(worker: W): boolean {
    const slot = this.slots[worker.slot]!;
    if (slot.worker !== worker) return false;
    slot.state = 'ready';
    if (worker.identity !== undefined) this.lastIdentity = worker.identity;
    for (const w of this.readyWaiters.splice(0)) w();
    return true;
  }

  markDead(worker: W, reason: DeathReason, detail: string): DeathOutcome {
    const slot = this.slots[worker.slot]!;
    if (slot.worker !== worker) return 'stale';
    slot.worker = undefined;
    if (this.stopping || slot.state === 'stopping' || reason === 'stopped') {
      slot.state = 'off';
      return 'stopped';
    }
    const stable = worker.readyAt > 0 && Date.now() - worker.readyAt > this.opts.stableAfterMs;
    this.scheduleRestart(slot, reason, detail, stable);
    return 'restarting';
  }

  private startSlot(slot: Slot<W>): void {
    slot.timer = undefined;
    slot.state = 'starting';
    try {
      slot.worker = this.deps.createWorker(slot.index, this.deps.host);
    } catch (err) {
      slot.worker = undefined;
      this.deps.logger.error({ slot: slot.index, err: (err as Error).message }, 'could not start server process');
      this.scheduleRestart(slot, 'init_exit', (err as Error).message, false);
    }
  }

  private scheduleRestart(slot: Slot<W>, reason: DeathReason, detail: string, stable: boolean): void {
    slot.failures = stable ? 1 : slot.failures + 1;
    const delay = backoffDelay(this.opts.backoff, slot.failures);
    slot.state = 'backoff';
    this.deps.metrics.restart(reason);
    this.deps.logger.warn(
      { slot: slot.index, reason, detail, failures: slot.failures, restartInMs: delay },
      'server process failed; restarting after backoff',
    );
    slot.timer = setTimeout(() => {
      if (!this.stopping) this.startSlot(slot);
    }, delay);
    slot.timer.unref();
  }

  // ---- stopping ----

  /** No process starts any more; whoever waits for a ready one stops waiting. */
  beginStop(): void {
    this.stopping = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Stops every process (stdin close, SIGTERM, SIGKILL). */
  async stopProcesses(): Promise<void> {
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
