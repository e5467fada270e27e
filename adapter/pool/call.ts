// One client request on its way through a pooled process: the id it gets on
// the process, the text written to stdin, and exactly one ending — the
// server's response, a failure answer, or the client going away.
import { answerFor, responseOutcome, type Failure, type FailureAnswer, type Outcome } from '../protocol/failure-classes.js';
import { replaceTopLevelId } from '../protocol/jsonrpc-ids.js';
import { isPlainObject, type JsonRpcId, type RpcNotification, type RpcResponse } from '../protocol/jsonrpc-message.js';
import { toModernResponse } from '../protocol/modern-results.js';
import type { Session } from '../sessions/session.js';

/** Where a call's answer goes: one HTTP exchange. */
export interface CallSink {
  /** Whether the client accepts messages ahead of the response (SSE). */
  readonly canStream: boolean;
  /** The client went away. */
  readonly closed: boolean;
  /** Sends a message ahead of the response; false when it cannot reach the client. */
  event(text: string): boolean;
  /** Sends the response and ends the exchange. */
  finish(text: string): void;
  /** Ends the exchange with an adapter-made error. */
  fail(answer: FailureAnswer, idJson: string): void;
  /** Ends the exchange without a response (the client cancelled the request). */
  abandon(): void;
}

export type Era = 'legacy' | 'modern';

/**
 * Placement: any process, the session's own process, or the session's own
 * process with no other capable session in flight there, so that a request
 * from the server (elicitation, sampling) has exactly one client to go to.
 */
export type Placement = 'any' | 'pinned' | 'exclusive';

export interface CallInit {
  readonly clientId: JsonRpcId;
  readonly clientIdJson: string;
  readonly method: string;
  /** params.name of tools/call. */
  readonly tool: string | undefined;
  readonly params: Record<string, unknown> | undefined;
  readonly bodyText: string;
  readonly era: Era;
  readonly session: Session | undefined;
  readonly placement: Placement;
  /** 2026-07-28 clients opt into log messages per request. */
  readonly logLevel: string | undefined;
  readonly sink: CallSink;
}

export interface CallHooks {
  settled(call: Call, outcome: Outcome, retryable: boolean): void;
  replaySafe(call: Call): boolean;
  /** The client cancelled or left while the process still works on the call. */
  cancelOnProcess(call: Call, reason: string): void;
}

export class Call {
  /** Process-local id while on a process, else -1. */
  localId = -1;
  localIdJson = '';
  /** The process the call was written to. */
  workerRef: object | undefined;
  written = false;
  settled = false;
  readonly startedAt = performance.now();
  readonly progressToken: JsonRpcId | undefined;

  constructor(
    readonly init: CallInit,
    private readonly hooks: CallHooks,
    private readonly deadlines: CallDeadlines | undefined,
  ) {
    const meta = init.params?.['_meta'];
    const token = isPlainObject(meta) ? meta['progressToken'] : undefined;
    this.progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    deadlines?.add(this);
  }

  /**
   * The request as the process sees it: the process-local id, and the
   * progress token replaced by that id too, since two clients may well use
   * the same token.
   */
  requestText(localId: number): string {
    this.localId = localId;
    this.localIdJson = String(localId);
    if (this.progressToken === undefined) {
      const spliced = replaceTopLevelId(this.init.bodyText, this.init.clientIdJson, this.localIdJson);
      if (spliced !== undefined) return spliced;
      return JSON.stringify({ jsonrpc: '2.0', id: localId, method: this.init.method, ...(this.init.params !== undefined ? { params: this.init.params } : {}) });
    }
    const params = this.init.params ?? {};
    const meta = params['_meta'] as Record<string, unknown>;
    return JSON.stringify({ jsonrpc: '2.0', id: localId, method: this.init.method, params: { ...params, _meta: { ...meta, progressToken: localId } } });
  }

  /** The server's response, written back with the client's id. */
  respond(line: string, msg: RpcResponse): void {
    if (this.settled) return;
    const i = this.init;
    const text =
      i.era === 'modern'
        ? toModernResponse(line, msg, i.method, this.localIdJson, i.clientId, i.clientIdJson)
        : (replaceTopLevelId(line, this.localIdJson, i.clientIdJson) ??
          JSON.stringify(msg.error !== undefined ? { jsonrpc: '2.0', id: i.clientId, error: msg.error } : { jsonrpc: '2.0', id: i.clientId, result: msg.result }));
    i.sink.finish(text);
    this.settle(responseOutcome(i.method, msg.result, msg.error !== undefined), false);
  }

  /** A progress notification for this call, with the client's own token. */
  progress(msg: RpcNotification): void {
    if (this.settled || this.progressToken === undefined) return;
    const params = { ...msg.params, progressToken: this.progressToken };
    this.init.sink.event(JSON.stringify({ jsonrpc: '2.0', method: msg.method, params }));
  }

  /** A message from the server that belongs to this call's stream. */
  event(text: string): boolean {
    if (this.settled) return false;
    return this.init.sink.event(text);
  }

  fail(failure: Failure): void {
    if (this.settled) return;
    const answer = answerFor(failure, this.hooks.replaySafe(this));
    this.init.sink.fail(answer, this.init.clientIdJson);
    this.settle(failure.kind, answer.retryable);
  }

  /** The client cancelled the request or closed the connection. */
  cancel(reason: string): void {
    if (this.settled) return;
    if (this.written) this.hooks.cancelOnProcess(this, reason);
    this.init.sink.abandon();
    this.settle('cancelled', false);
  }

  /** The adapter's own call timeout passed. */
  expire(ms: number): void {
    if (this.settled) return;
    if (this.written) this.hooks.cancelOnProcess(this, `timed out after ${ms} ms`);
    this.fail({ kind: 'timeout', detail: `no answer within ${ms} ms`, written: this.written });
  }

  private settle(outcome: Outcome, retryable: boolean): void {
    this.settled = true;
    this.deadlines?.delete(this);
    this.hooks.settled(this, outcome, retryable);
  }
}

/**
 * The adapter's call timeout for all calls at once: calls are kept in start
 * order and a coarse sweep expires the oldest, instead of one timer per call
 * on the hot path. A timeout fires up to one sweep interval late.
 */
export class CallDeadlines {
  private readonly open = new Set<Call>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly timeoutMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, timeoutMs / 10)));
    this.timer.unref();
  }

  add(call: Call): void {
    this.open.add(call);
  }

  delete(call: Call): void {
    this.open.delete(call);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const oldest = performance.now() - this.timeoutMs;
    for (const call of this.open) {
      if (call.startedAt > oldest) break;
      this.open.delete(call);
      call.expire(this.timeoutMs);
    }
  }
}
