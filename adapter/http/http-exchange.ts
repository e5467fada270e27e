// The HTTP side of one call. The answer's form is decided late: a plain JSON
// response when the server answers before saying anything else (the common
// case, and the one Envoy can still retry), an SSE stream from the first
// progress notification or server request on. Failures before anything was
// sent become real HTTP statuses, so Envoy's retry policy can read them.
import type { ServerResponse } from 'node:http';
import { RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { CallSink } from '../pool/call.js';
import type { FailureAnswer } from '../protocol/failure-classes.js';
import { SSE_HEADERS, sseEvent } from './sse-stream.js';

/** Envoy names each try of a request (routes set include_request_attempt_count). */
const ATTEMPT_COUNT_HEADER = 'x-envoy-attempt-count';

export class HttpExchange implements CallSink {
  private streaming = false;
  private done = false;
  private gone = false;
  /** Set by the owner: the client left before the answer. */
  onAbort: (() => void) | undefined;
  readonly retried: boolean;

  constructor(
    private readonly res: ServerResponse,
    readonly canStream: boolean,
    /** The 2025-era session's id, sent back on every answer. */
    private readonly sessionId: string | undefined,
    /** Who sent it, for the per-client bound (client-origin.ts: behind a trusted proxy, the agent). */
    readonly client: string,
  ) {
    const attempt = res.req?.headers[ATTEMPT_COUNT_HEADER];
    this.retried = typeof attempt === 'string' && Number(attempt) > 1;
    res.once('close', () => {
      if (this.done) return;
      this.gone = true;
      this.done = true;
      this.onAbort?.();
    });
  }

  get closed(): boolean {
    return this.gone;
  }

  event(text: string): boolean {
    if (this.done || !this.canStream) return false;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    }
    this.res.write(sseEvent(text));
    return true;
  }

  finish(text: string | readonly Uint8Array[]): void {
    if (this.done) return;
    this.done = true;
    if (typeof text !== 'string') return this.finishPieces(text);
    if (this.streaming) {
      this.res.end(sseEvent(text));
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
      this.res.end(sseEvent(body));
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
    // A cancelled request gets no response: an empty stream ends it.
    if (!this.streaming && this.canStream)
      this.res.writeHead(200, this.sessionId === undefined ? SSE_HEADERS : { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    else if (!this.streaming) this.res.writeHead(202, this.sessionId === undefined ? {} : { 'mcp-session-id': this.sessionId });
    this.res.end();
  }
}
