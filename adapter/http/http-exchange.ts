// The HTTP side of one call. The answer's form is decided late: a plain JSON
// response when the server answers before saying anything else (the common
// case, and the one Envoy can still retry), an SSE stream from the first
// progress notification or server request on. Failures before anything was
// sent become real HTTP statuses, so Envoy's retry policy can read them.
import type { ServerResponse } from 'node:http';
import { RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { CallSink } from '../pool/call.js';
import type { FailureAnswer } from '../protocol/failure-classes.js';
import { MAX_KEPT_BYTES, MAX_KEPT_EVENTS, type PostStreams, postEventId, type ResumableAnswer } from './post-stream-resume.js';
import { SSE_HEADERS, sseEvent } from './sse-stream.js';

/** Envoy names each try of a request (routes set include_request_attempt_count). */
const ATTEMPT_COUNT_HEADER = 'x-envoy-attempt-count';

export class HttpExchange implements CallSink, ResumableAnswer {
  private res: ServerResponse;
  private streaming = false;
  private done = false;
  private gone = false;
  /** A resumable stream (post-stream-resume.ts): its key, its events so far, and its answer once given. */
  private stream: string | undefined;
  private readonly kept: Array<{ n: number; text: string }> = [];
  private keptBytes = 0;
  private sent = 0;
  private detached = false;
  private last: string | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Set by the owner: the client left before the answer. */
  onAbort: (() => void) | undefined;
  readonly retried: boolean;

  constructor(
    res: ServerResponse,
    readonly canStream: boolean,
    /** The 2025-era session's id, sent back on every answer. */
    readonly sessionId: string | undefined,
    /** Who sent it, for the per-client bound (client-origin.ts: behind a trusted proxy, the agent). */
    readonly client: string,
    /** Set for answers a client may resume with Last-Event-ID (2025-era sessions). */
    private readonly streams?: PostStreams,
  ) {
    this.res = res;
    const attempt = res.req?.headers[ATTEMPT_COUNT_HEADER];
    this.retried = typeof attempt === 'string' && Number(attempt) > 1;
    this.watch(res);
  }

  get closed(): boolean {
    return this.gone;
  }

  private watch(res: ServerResponse): void {
    res.once('close', () => {
      if (res !== this.res) return;
      if (this.stream !== undefined && this.streams !== undefined) return this.dropped();
      if (this.done) return;
      this.gone = true;
      this.done = true;
      this.onAbort?.();
    });
  }

  /** A resumable stream's connection dropped: the call waits for its client to come back, for a while. */
  private dropped(): void {
    if (this.res.writableFinished) {
      this.forget();
      return;
    }
    this.detached = true;
    this.graceTimer = setTimeout(() => {
      if (!this.detached) return;
      this.forget();
      if (this.done) return;
      this.gone = true;
      this.done = true;
      this.onAbort?.();
    }, this.streams!.opts.graceMs);
    this.graceTimer.unref();
  }

  private forget(): void {
    if (this.stream !== undefined) this.streams?.drop(this.stream, this);
  }

  resumeOn(res: ServerResponse, after: number): boolean {
    if (this.stream === undefined || this.gone || this.streams === undefined) return false;
    clearTimeout(this.graceTimer);
    // The client is back on a new connection, perhaps before this replica saw the old one drop: that one is done.
    const old = this.res;
    this.detached = false;
    this.res = res;
    if (!old.destroyed) old.destroy();
    this.watch(res);
    res.writeHead(200, this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    res.write(`retry: ${this.streams.opts.retryMs}\n\n`);
    for (const e of this.kept) if (e.n > after) res.write(sseEvent(e.text, postEventId(this.stream!, e.n)));
    if (this.last !== undefined) res.end(this.last);
    return true;
  }

  /** One event of a stream: with an id when resumable, kept for a resume, written unless the client is away. */
  private write(text: string, end: boolean): void {
    if (this.stream === undefined) {
      if (end) this.res.end(sseEvent(text));
      else this.res.write(sseEvent(text));
      return;
    }
    const n = ++this.sent;
    const framed = sseEvent(text, postEventId(this.stream, n));
    if (end) this.last = framed;
    else {
      this.kept.push({ n, text });
      this.keptBytes += text.length;
      while (this.kept.length > MAX_KEPT_EVENTS || this.keptBytes > MAX_KEPT_BYTES) this.keptBytes -= this.kept.shift()!.text.length;
    }
    if (this.detached) return;
    if (end) {
      this.res.end(framed);
      this.forget();
    } else this.res.write(framed);
  }

  event(text: string): boolean {
    if (this.done || !this.canStream) return false;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
      if (this.streams !== undefined) {
        this.stream = this.streams.register(this);
        this.res.write(`retry: ${this.streams.opts.retryMs}\n\n`);
      }
    }
    this.write(text, false);
    return true;
  }

  finish(text: string | readonly Uint8Array[]): void {
    if (this.done) return;
    this.done = true;
    if (typeof text !== 'string') {
      // A large answer goes out by pieces, as without resumption; only a client that is away gets it kept, as one text.
      if (this.stream === undefined || !this.detached) {
        this.finishPieces(text);
        this.forget();
        return;
      }
      return this.write(Buffer.concat(text).toString('utf8'), true);
    }
    if (this.streaming) {
      this.write(text, true);
      return;
    }
    if (this.sessionId === undefined)
      this.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    else
      this.res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'mcp-session-id': this.sessionId,
      });
    this.res.end(text);
  }

  /** A large answer as byte pieces (one JSON line without CR or LF), written without joining them. */
  private finishPieces(pieces: readonly Uint8Array[]): void {
    if (this.streaming) {
      this.res.write('event: message\ndata: ');
      for (const p of pieces) this.res.write(p);
      this.res.end('\n\n');
      return;
    }
    let length = 0;
    for (const p of pieces) length += p.length;
    this.res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
    for (const p of pieces) this.res.write(p);
    this.res.end();
  }

  fail(answer: FailureAnswer, idJson: string): void {
    if (this.done) return;
    const body = `{"jsonrpc":"2.0","id":${idJson},"error":{"code":${answer.code},"message":${JSON.stringify(answer.message)}}}`;
    if (this.streaming) {
      this.done = true;
      this.write(body, true);
      return;
    }
    this.done = true;
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (answer.retryable) headers[RETRYABLE_HEADER] = 'true';
    // Not on a retryable failure: the retry goes to another replica, whose answer pins the session.
    else if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    this.res.writeHead(answer.status, headers);
    this.res.end(body);
  }

  abandon(): void {
    if (this.done) return;
    this.done = true;
    if (this.stream !== undefined) {
      // A cancelled call: its stream ends, here or on a resume.
      this.last = '';
      clearTimeout(this.graceTimer);
      if (!this.detached) this.res.end();
      this.forget();
      return;
    }
    // A cancelled request gets no response: an empty stream ends it.
    if (!this.streaming && this.canStream)
      this.res.writeHead(200, this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    else if (!this.streaming) this.res.writeHead(202, this.sessionId === undefined ? {} : { 'mcp-session-id': this.sessionId });
    this.res.end();
  }
}
