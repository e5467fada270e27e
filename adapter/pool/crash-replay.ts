// Finding the query of death among the calls a process took down with it, on
// this replica. When a process dies on its own with several distinct calls in
// flight, none of them is known to be the killer; answered retryable, every
// one would be replayed by Envoy on another replica, the killer with them, and
// it would take a process there too. Instead the suspects (query-of-death.ts:
// never seen answered here, so not excused; replay-safe; not bound to a
// session's process) are replayed here, one at a time, each alone on a fresh
// quarantine process that takes no other traffic. An innocent call is
// answered as if nothing had happened; the one that kills the quarantine
// process too was alone on it, which makes it the query of death (its second
// strike: poisoned, 422). So it costs processes on one replica only.
//
// Bounded: at most `maxSuspects` calls of one death are replayed (the rest get
// their retryable answer, as before), one quarantine process runs at a time,
// and it is started at most `maxStarts` times for one batch. A call keeps its
// own deadline and its client may go away while it waits.
import type { Logger } from '../../lib/log.js';
import type { Outcome } from '../protocol/failure-classes.js';
import type { RpcNotification, RpcRequest } from '../protocol/jsonrpc-message.js';
import type { Call } from './call.js';
import type { DeathReason, PoolWorker, WorkerHost } from './pool-worker.js';

/** How a replayed call ended: answered by the server, found to be the query of death, failed otherwise, not replayed (the bound, a quarantine process that would not start, shutdown), or its client left. */
export type ReplayResult = 'answered' | 'poisoned' | 'failed' | 'not_replayed' | 'abandoned';

function resultOf(outcome: Outcome): ReplayResult {
  if (outcome === 'ok' || outcome === 'tool_error' || outcome === 'jsonrpc_error') return 'answered';
  if (outcome === 'poisoned') return 'poisoned';
  if (outcome === 'cancelled') return 'abandoned';
  return 'failed';
}

export interface QuarantineWorker extends PoolWorker {
  readonly slot: number;
  /** Answers a server request the quarantine process cannot route to any client. */
  send(text: string): boolean;
  /** Forgets a call of this (dead) process without failing it: it moves to another process. */
  release(call: Call): boolean;
}

export interface CrashReplayDeps<W extends QuarantineWorker> {
  /** A fresh process for `slot`, reporting to `host`. */
  createWorker(slot: number, host: WorkerHost<W>): W;
  readonly logger: Logger;
  /** One replayed call ended, by how. */
  readonly replayed?: (result: ReplayResult) => void;
  readonly maxSuspects?: number;
  readonly maxStarts?: number;
  readonly stopGraceMs?: number;
}

interface Suspect<W> {
  readonly call: Call;
  /** The dead process the call was on, until it is written again. */
  readonly from: W;
  /** The answer it gets if it cannot be replayed here (the ordinary crash answer). */
  readonly fallback: () => void;
}

/** Calls of one death over the bound get their ordinary answer. */
const DEFAULT_MAX_SUSPECTS = 16;
const DEFAULT_MAX_STARTS = 3;

export class CrashReplay<W extends QuarantineWorker> implements WorkerHost<W> {
  private readonly waiting: Suspect<W>[] = [];
  private worker: W | undefined;
  private current: Suspect<W> | undefined;
  private starts = 0;
  private stopped = false;

  constructor(private readonly deps: CrashReplayDeps<W>) {}

  /** Calls replayed or waiting (tests, metrics). */
  get pending(): number {
    return this.waiting.length + (this.current === undefined ? 0 : 1);
  }

  /**
   * Takes the suspects of one death. Returns the calls it did not take (over
   * the bound, or the replayer is stopped): the caller answers those as usual.
   */
  take(from: W, calls: readonly Call[], fallback: (call: Call) => void): Call[] {
    if (this.stopped) return [...calls];
    const max = this.deps.maxSuspects ?? DEFAULT_MAX_SUSPECTS;
    const taken = calls.slice(0, max);
    for (const call of taken) this.waiting.push({ call, from, fallback: () => fallback(call) });
    this.deps.logger.warn(
      { slot: from.slot, suspects: taken.length, notReplayed: calls.length - taken.length },
      'a process died on its own with several calls in flight; replaying them here one at a time, each alone on a quarantine process, to find the one that kills it',
    );
    this.next();
    return calls.slice(max);
  }

  /** Shutdown: what waits gets its ordinary answer, the quarantine process stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.waiting.splice(0)) this.giveBack(s);
    await this.worker?.stop(this.deps.stopGraceMs ?? 2_000);
  }

  // ---- the quarantine process reports here ----

  workerReady(worker: W): void {
    if (worker !== this.worker) return;
    this.next();
  }

  workerDead(worker: W, reason: DeathReason): void {
    if (worker !== this.worker) return;
    // A call in flight on it was failed by the process already (alone on it: the query of death), and the queue moved on.
    this.worker = undefined;
    if (reason !== 'stopped') this.deps.logger.warn({ reason }, 'quarantine process ended');
    this.next();
  }

  serverRequest(worker: W, _line: string, msg: RpcRequest): void {
    // No client is bound to a quarantine process: a server request cannot be answered by anyone.
    worker.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: msg.id,
        error: { code: -32603, message: 'no client can answer this request: the call is being replayed alone after a crash' },
      }),
    );
  }

  serverNotification(_worker: W, _line: string, _msg: RpcNotification): void {
    // Progress goes to the call by the worker itself; anything else has no session here.
  }

  // ---- the queue ----

  private next(): void {
    if (this.current !== undefined || this.stopped) return;
    let s = this.waiting.shift();
    while (s !== undefined && (s.call.settled || s.call.init.sink.closed)) {
      if (!s.call.settled) s.call.cancel('the client went away while the call waited for its replay');
      this.deps.replayed?.('abandoned');
      s = this.waiting.shift();
    }
    if (s === undefined) {
      this.starts = 0;
      const w = this.worker;
      this.worker = undefined;
      void w?.stop(this.deps.stopGraceMs ?? 2_000);
      return;
    }
    const w = this.worker;
    if (w === undefined || w.state === 'dead' || w.state === 'stopping') {
      this.waiting.unshift(s);
      this.start(s.from.slot);
      return;
    }
    if (w.state !== 'ready') {
      this.waiting.unshift(s);
      return;
    }
    this.current = s;
    s.from.release(s.call);
    s.call.onSettled((outcome) => {
      if (this.current !== s) return;
      this.current = undefined;
      this.deps.replayed?.(resultOf(outcome));
      this.next();
    });
    w.dispatch(s.call);
  }

  private start(slot: number): void {
    if (this.starts >= (this.deps.maxStarts ?? DEFAULT_MAX_STARTS)) {
      this.deps.logger.warn(
        { waiting: this.waiting.length },
        'quarantine process would not start; the remaining calls get their ordinary answer',
      );
      for (const s of this.waiting.splice(0)) this.giveBack(s);
      this.starts = 0;
      return;
    }
    this.starts++;
    this.worker = this.deps.createWorker(slot, this);
  }

  private giveBack(s: Suspect<W>): void {
    if (s.call.settled) return;
    s.fallback();
    this.deps.replayed?.('not_replayed');
  }
}
