// SSE answers to 2025-era session POSTs that survive a dropped connection on
// the replica that runs their call. Each event of such a stream carries an id
// naming the stream and the event's place in it (`r-<stream>-<n>`; the stream
// part is made like the GET stream's ids: clock, counter, writer tag, no
// payload). When the connection drops before the answer, the call is held for
// `graceMs` instead of being cancelled at once; a GET with Last-Event-ID of the
// stream (the SDK clients send it once they saw an id) gets the events after
// that place and then the rest of the call, its answer included. Without one
// in time, the call is cancelled as before.
//
// The call runs on one process of one replica: a resume that reaches another
// replica finds nothing, and the call is lost as it was (404 with JSON-RPC
// -32000). Streams are not written to a shared store for that reason.
import type { ServerResponse } from 'node:http';
import { EventIds } from '../sessions/event-window-store.js';

export const POST_EVENT_ID_PATTERN = /^r-(\d{14}-[0-9a-z]{7}-[0-9a-f]{8})-([0-9a-z]{1,7})$/;

/** What a resumable answer keeps: the events a reconnecting client may have missed. */
export const MAX_KEPT_EVENTS = 128;
export const MAX_KEPT_BYTES = 256 * 1024;

export interface PostEventCursor {
  readonly stream: string;
  readonly n: number;
}

export function readPostEventId(id: string): PostEventCursor | undefined {
  if (id.length > 48) return undefined;
  const m = POST_EVENT_ID_PATTERN.exec(id);
  if (m === null) return undefined;
  const n = Number.parseInt(m[2]!, 36);
  return Number.isSafeInteger(n) ? { stream: m[1]!, n } : undefined;
}

export function postEventId(stream: string, n: number): string {
  return `r-${stream}-${n.toString(36)}`;
}

/** What the registry needs of an answer (http-exchange.ts). */
export interface ResumableAnswer {
  /** The session whose call this answers: only its client may resume it. */
  readonly sessionId?: string | undefined;
  /** Takes over a new response; false when the answer can no longer be resumed. */
  resumeOn(res: ServerResponse, after: number): boolean;
}

export interface PostStreamOptions {
  /** How long a call whose stream dropped waits for its client to resume it. */
  readonly graceMs: number;
  /** The `retry:` of the adapter's SSE streams. */
  readonly retryMs: number;
}

/** This replica's resumable POST streams, by stream key. Bounded: the oldest go first. */
export class PostStreams {
  private readonly ids = new EventIds();
  private readonly open = new Map<string, ResumableAnswer>();
  private static readonly MAX = 10_000;

  constructor(readonly opts: PostStreamOptions) {}

  register(answer: ResumableAnswer): string {
    const key = this.ids.next().slice(2);
    this.open.set(key, answer);
    if (this.open.size > PostStreams.MAX) this.open.delete(this.open.keys().next().value!);
    return key;
  }

  find(stream: string): ResumableAnswer | undefined {
    return this.open.get(stream);
  }

  drop(stream: string, answer: ResumableAnswer): void {
    if (this.open.get(stream) === answer) this.open.delete(stream);
  }

  get size(): number {
    return this.open.size;
  }
}
