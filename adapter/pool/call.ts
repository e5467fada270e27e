// One client request on its way through a pooled process: the id it gets on
// the process, the text written to stdin, and exactly one ending — the
// server's response, a failure answer, or the client going away.
import { answerFor, type Failure, type FailureAnswer, type Outcome, responseOutcome } from '../protocol/failure-classes.js';
import { findMember, type ResponseScan, valueStart } from '../protocol/json-scan.js';
import { replaceTopLevelId } from '../protocol/jsonrpc-ids.js';
import { isPlainObject, type JsonRpcId, type RpcNotification, type RpcResponse } from '../protocol/jsonrpc-message.js';
import { toModernResponse } from '../protocol/modern-results.js';
import { type RequestBody, requestBodyOf, spliceRequest } from '../protocol/request-body.js';
import { setMetaMembers } from '../protocol/trace-meta.js';
import type { CallDeadlines } from './call-deadlines.js';
import { requestFingerprint } from './query-of-death.js';

/** Where a call's answer goes: one HTTP exchange. */
export interface CallSink {
  /** Whether the client accepts messages ahead of the response (SSE). */
  readonly canStream: boolean;
  /** The client went away. */
  readonly closed: boolean;
  /** Sends a message ahead of the response; false when it cannot reach the client. */
  event(text: string): boolean;
  /** Sends the response (a string, or byte pieces of a large one) and ends the exchange. */
  finish(text: string | readonly Uint8Array[]): void;
  /** Who sent it, for the per-client bound: the client key of http/client-origin.ts (an agent behind a trusted proxy). */
  readonly client?: string;
  /** The request is a proxy's retry of one that failed elsewhere (Envoy's x-envoy-attempt-count > 1). */
  readonly retried?: boolean;
  /** Ends the exchange with an adapter-made error. */
  fail(answer: FailureAnswer, idJson: string): void;
  /** Ends the exchange without a response (the client cancelled the request). */
  abandon(): void;
}

export type Era = 'legacy' | 'modern';

/** Methods whose 2026-07-28 results carry cache fields (as in protocol/modern-results.ts). */
const MODERN_CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/**
 * Placement: any process, the session's own process, or the session's own
 * process with no other capable session in flight there, so that a request
 * from the server (elicitation, sampling) has exactly one client to go to.
 * `solo`: a 2026-07-28 call whose client can answer such a request, alone on
 * an idle process for as long as it runs (it has no session to pin).
 */
export type Placement = 'any' | 'pinned' | 'exclusive' | 'solo';

/**
 * What the pool knows of the 2025-era session a call belongs to: the slot it
 * is pinned to. The session layer's own type stands in for it, so that what
 * the pool hands back (a call's session, a process's exclusive holder) is that
 * type again.
 */
export interface PinnedSession {
  readonly slot: number;
}

/** The process a call was written to, as the call and the pool use it. */
export interface CallCarrier {
  readonly slot: number;
  /** Forgets a settled call; true if it was in flight there. */
  release(call: Call): boolean;
  /** Tells the server to stop working on a call nobody waits for any more. */
  cancel(call: Call, reason: string): void;
  /**
   * Whether a call that timed out is the request's own fault (a query of
   * death, see failure-classes.ts); records it either way.
   */
  timedOutOnItsOwn?(call: Call): boolean;
}

/** The call's span (adapter/tracing.ts), when it is traced. */
export interface CallTrace {
  /** Trace-context members for the request's params._meta (key, JSON text). */
  readonly meta: readonly (readonly [string, string])[];
  /** The call was written to the process in `slot`. */
  written(slot: number): void;
}

export interface CallInit<S extends PinnedSession> {
  readonly clientId: JsonRpcId;
  readonly clientIdJson: string;
  readonly method: string;
  /** params.name of tools/call. */
  readonly tool: string | undefined;
  readonly params: Record<string, unknown> | undefined;
  /** The request as the client sent it, with the spans of its id and token. */
  readonly body: RequestBody;
  readonly era: Era;
  readonly session: S | undefined;
  readonly placement: Placement;
  /** 2026-07-28 clients opt into log messages per request. */
  readonly logLevel: string | undefined;
  readonly sink: CallSink;
  /** Present when the call is traced: the server gets its context in params._meta. */
  readonly trace?: CallTrace;
}

export interface CallHooks<S extends PinnedSession> {
  settled(call: Call<S>, outcome: Outcome, retryable: boolean): void;
  replaySafe(call: Call<S>): boolean;
}

export class Call<S extends PinnedSession = PinnedSession> {
  private carrier: CallCarrier | undefined;
  private local = -1;
  private localJson = '';
  private wasWritten = false;
  private done = false;
  private print: string | undefined;
  private settledListeners: ((outcome: Outcome) => void)[] | undefined;
  private outcome: Outcome | undefined;
  readonly startedAt = performance.now();
  readonly progressToken: JsonRpcId | undefined;

  constructor(
    readonly init: CallInit<S>,
    private readonly hooks: CallHooks<S>,
    private readonly deadlines: CallDeadlines | undefined,
  ) {
    const meta = init.params?.['_meta'];
    const token = isPlainObject(meta) ? meta['progressToken'] : undefined;
    this.progressToken = typeof token === 'string' || typeof token === 'number' ? token : undefined;
    deadlines?.add(this);
  }

  /** The process the call was written to. */
  get worker(): CallCarrier | undefined {
    return this.carrier;
  }

  /** Process-local id while on a process, else -1. */
  get localId(): number {
    return this.local;
  }

  get written(): boolean {
    return this.wasWritten;
  }

  get settled(): boolean {
    return this.done;
  }

  /**
   * The call is written to `carrier` as `localId`: the request as the process
   * sees it, with the progress token replaced by that id too, since two
   * clients may well use the same token. Byte pieces for a large body (its
   * own bytes around the splices), else text.
   */
  writeTo(carrier: CallCarrier, localId: number): string | Uint8Array[] {
    this.carrier = carrier;
    this.wasWritten = true;
    this.local = localId;
    this.localJson = String(localId);
    const trace = this.init.trace;
    let body = this.init.body;
    if (trace !== undefined) {
      trace.written(carrier.slot);
      const text = setMetaMembers(body.text, trace.meta);
      // The members moved: the changed text is scanned for its own spans.
      if (text !== undefined && text !== body.text) body = requestBodyOf(text);
    }
    const spliced = spliceRequest(body, this.localJson, this.progressToken === undefined ? undefined : this.localJson);
    if (spliced !== undefined) return spliced;
    // A body whose spans the splice lacks (none of the adapter's own making): re-serialised.
    const params = this.init.params;
    if (this.progressToken === undefined)
      return JSON.stringify({ jsonrpc: '2.0', id: localId, method: this.init.method, ...(params !== undefined ? { params } : {}) });
    const meta = params?.['_meta'];
    return JSON.stringify({
      jsonrpc: '2.0',
      id: localId,
      method: this.init.method,
      params: { ...params, _meta: { ...(isPlainObject(meta) ? meta : {}), progressToken: localId } },
    });
  }

  /** The server's response, written back with the client's id. */
  respond(line: string, msg: RpcResponse): void {
    if (this.done) return;
    const i = this.init;
    const text =
      i.era === 'modern'
        ? toModernResponse(line, msg, i.method, this.localJson, i.clientId, i.clientIdJson)
        : (replaceTopLevelId(line, this.localJson, i.clientIdJson) ??
          JSON.stringify(
            msg.error !== undefined
              ? { jsonrpc: '2.0', id: i.clientId, error: msg.error }
              : { jsonrpc: '2.0', id: i.clientId, result: msg.result },
          ));
    i.sink.finish(text);
    this.settle(responseOutcome(i.method, msg.result, msg.error !== undefined), false);
  }

  /**
   * A large response (raw bytes of the server's line, already checked as
   * one JSON object by `scan`) written back without decoding it: the bytes
   * are sliced around the id (and, for 2026-07-28 clients, the fields the
   * revision adds), so the answer costs about its own size once. False when
   * it needs the parsed path (an error, or fields to rebuild).
   */
  respondBytes(line: Uint8Array, scan: ResponseScan): boolean {
    if (this.done) return true;
    const i = this.init;
    const id = scan.top.get('id');
    if (id === undefined || scan.top.has('error') || !scan.top.has('result')) return false;
    const edits: Array<readonly [number, number, string]> = [[id[0], id[1], i.clientIdJson]];
    const result = scan.result;
    const member = (key: string): unknown => {
      const span = result?.get(key);
      if (span === undefined) return undefined;
      return JSON.parse(Buffer.from(line.buffer, line.byteOffset + span[0], span[1] - span[0]).toString('utf8'));
    };
    if (i.era === 'modern') {
      if (result === undefined) return false;
      const add: string[] = [];
      const resultType = member('resultType');
      if (resultType === undefined) add.push('"resultType":"complete"');
      if (MODERN_CACHEABLE.has(i.method) && (resultType === undefined || resultType === 'complete')) {
        if (result.has('ttlMs') || result.has('cacheScope')) return false;
        add.push('"ttlMs":0', '"cacheScope":"private"');
      }
      const at = scan.top.get('result')![0] + 1;
      if (add.length > 0) edits.push([at, at, add.join(',') + (result.size > 0 ? ',' : '')]);
    }
    edits.sort((a, b) => a[0] - b[0]);
    const pieces: Uint8Array[] = [];
    let from = 0;
    for (const [start, end, text] of edits) {
      pieces.push(line.subarray(from, start), Buffer.from(text));
      from = end;
    }
    pieces.push(line.subarray(from));
    const isError = i.method === 'tools/call' && result !== undefined && member('isError') === true;
    i.sink.finish(pieces);
    this.settle(isError ? 'tool_error' : 'ok', false);
    return true;
  }

  /** Whether running the call twice is harmless (see failure-classes.ts). */
  replaySafe(): boolean {
    return this.hooks.replaySafe(this);
  }

  /** Runs `listener` when the call ends, after its owner's settle hook (at once if it has ended). */
  onSettled(listener: (outcome: Outcome) => void): void {
    if (this.done) {
      listener(this.outcome ?? 'cancelled');
      return;
    }
    if (this.settledListeners === undefined) this.settledListeners = [listener];
    else this.settledListeners.push(listener);
  }

  /** Fingerprint of method and params, for the query-of-death registry (once per call: answered calls are remembered). */
  fingerprint(): string {
    if (this.print !== undefined) return this.print;
    const { text, spans } = this.init.body;
    // The request's own walk found params; a body without spans (not one object) is looked at here.
    const params = spans !== undefined ? spans.params : findMember(text, valueStart(text), 'params');
    this.print = requestFingerprint(this.init.method, params === undefined ? '' : text.slice(params.start, params.end));
    return this.print;
  }

  /** A progress notification for this call, with the client's own token. */
  progress(msg: RpcNotification): void {
    if (this.done || this.progressToken === undefined) return;
    const params = { ...msg.params, progressToken: this.progressToken };
    this.init.sink.event(JSON.stringify({ jsonrpc: '2.0', method: msg.method, params }));
  }

  /** A message from the server that belongs to this call's stream. */
  event(text: string): boolean {
    if (this.done) return false;
    return this.init.sink.event(text);
  }

  fail(failure: Failure): void {
    if (this.done) return;
    const answer = answerFor(failure, this.hooks.replaySafe(this));
    this.init.sink.fail(answer, this.init.clientIdJson);
    this.settle(failure.kind, answer.retryable);
  }

  /** The client cancelled the request or closed the connection. */
  cancel(reason: string): void {
    if (this.done) return;
    if (this.wasWritten) this.carrier?.cancel(this, reason);
    this.init.sink.abandon();
    this.settle('cancelled', false);
  }

  /** The adapter's own call timeout passed. */
  expire(ms: number): void {
    if (this.done) return;
    if (this.wasWritten) this.carrier?.cancel(this, `timed out after ${ms} ms`);
    if (this.wasWritten && this.carrier?.timedOutOnItsOwn?.(this) === true) {
      this.fail({ kind: 'poisoned', detail: `no answer within ${ms} ms, the same way as before (or on another replica)`, written: true });
      return;
    }
    this.fail({ kind: 'timeout', detail: `no answer within ${ms} ms`, written: this.wasWritten });
  }

  private settle(outcome: Outcome, retryable: boolean): void {
    this.done = true;
    this.outcome = outcome;
    this.deadlines?.delete(this);
    this.hooks.settled(this, outcome, retryable);
    const listeners = this.settledListeners;
    if (listeners === undefined) return;
    this.settledListeners = undefined;
    for (const l of listeners) l(outcome);
  }
}
