// A 2025-era session's GET stream as something that outlives its connection:
// every server message meant for it gets an event id and goes into the
// session's replay window (event-window-store.ts); a client that reconnects
// with Last-Event-ID, to this replica or any other sharing the store, gets
// what came after that id and then the live stream.
//
// With a shared store, an open stream also follows the window (a poll every
// `pollMs`): messages another replica wrote for this session — its calls went
// there while its stream stayed here, the GET-first split of an SDK 1.x client
// after a failover — reach the client too. Delivery is at least once: around a
// split or a resume a message can come twice, never silently not at all while
// it is in the window.
//
// What is kept: notifications always (also while no stream is open, which is
// the point), server requests only when they went out live (a request with no
// stream is refused to the server at once, so it must not come back later).
import type { Logger } from '../../lib/log.js';
import { type EventIds, type EventWindowStore, isEventId, type StoredEvent } from '../sessions/event-window-store.js';
import type { ClientStream } from '../sessions/session.js';
import type { SseStream } from './sse-stream.js';

export interface EventReplayOptions {
  /** The `retry:` sent on every stream: how long a client waits before it reconnects. */
  readonly retryMs: number;
  /** How often an open stream reads a shared window for other replicas' messages. */
  readonly pollMs: number;
}

export interface EventReplayDeps {
  readonly store: EventWindowStore;
  readonly ids: EventIds;
  readonly logger: Logger;
  /** A message that could not be kept (store error or over the window's byte bound). */
  readonly notKept?: (reason: 'store_error' | 'too_large') => void;
  readonly replayed?: (count: number) => void;
}

/** A Last-Event-ID the endpoint can act on: absent, or one of ours; anything else is the client's error (400). */
export type ResumeCursor = { readonly kind: 'none' } | { readonly kind: 'after'; readonly id: string } | { readonly kind: 'invalid' };

export function readResumeCursor(header: string | undefined): ResumeCursor {
  if (header === undefined || header === '') return { kind: 'none' };
  return isEventId(header) ? { kind: 'after', id: header } : { kind: 'invalid' };
}

/** Ids delivered on one connection, kept to a multiple of the window so old ones fall out. */
const DELIVERED_FACTOR = 4;

export class SessionEvents implements ClientStream {
  private live: SseStream | undefined;
  private delivered = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly sessionKey: string,
    /** Whether the client may take an event without data (2025-11-25 and later). */
    private readonly primes: boolean,
    private readonly opts: EventReplayOptions,
    private readonly deps: EventReplayDeps,
  ) {}

  get closed(): boolean {
    return this.live === undefined || this.live.closed;
  }

  send(text: string): boolean {
    const id = this.deps.ids.next();
    const live = this.live?.send(text, id) === true;
    if (live) this.markDelivered(id);
    if (live || !isRequest(text)) this.keep({ id, data: text });
    return live;
  }

  end(): void {
    this.live?.end();
  }

  onClose(handler: () => void): void {
    this.live?.onClose(handler);
  }

  /**
   * A new connection for the stream: `retry:`, the missed messages after the
   * cursor (none for a fresh stream: a new stream does not repeat an older
   * one's), then live. Resolves once the replay is written.
   */
  async attach(stream: SseStream, cursor: ResumeCursor): Promise<void> {
    this.stop();
    this.live = stream;
    this.delivered = new Set();
    stream.onClose(() => {
      if (this.live !== stream) return;
      this.live = undefined;
      this.stop();
    });
    let window: readonly StoredEvent[] = [];
    try {
      window = await this.deps.store.list(this.sessionKey);
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'replay window unavailable; the stream resumes without the missed messages');
    }
    if (this.live !== stream) return;
    stream.prime(this.opts.retryMs, this.primes && cursor.kind === 'none' ? this.deps.ids.next() : undefined);
    let replayed = 0;
    for (const e of window) {
      if (this.delivered.has(e.id)) continue;
      if (cursor.kind === 'after' && e.id > cursor.id) {
        stream.send(e.data, e.id);
        replayed++;
      }
      this.markDelivered(e.id);
    }
    if (replayed > 0) this.deps.replayed?.(replayed);
    // Messages kept while the window was read are picked up by the first poll.
    if (this.deps.store.shared) {
      this.timer = setInterval(() => void this.poll(stream), this.opts.pollMs);
      this.timer.unref();
    } else void this.poll(stream);
  }

  private async poll(stream: SseStream): Promise<void> {
    if (this.polling || this.live !== stream || stream.closed) return;
    this.polling = true;
    try {
      const window = await this.deps.store.list(this.sessionKey, (id) => this.delivered.has(id));
      for (const e of window) {
        if (this.live !== stream || this.delivered.has(e.id)) continue;
        stream.send(e.data, e.id);
        this.markDelivered(e.id);
      }
    } catch (err) {
      this.deps.logger.debug({ err: (err as Error).message }, 'replay window poll failed');
    } finally {
      this.polling = false;
    }
  }

  private keep(e: StoredEvent): void {
    if (Buffer.byteLength(e.data, 'utf8') > this.deps.store.bounds.maxBytes) {
      this.deps.notKept?.('too_large');
      return;
    }
    this.deps.store.append(this.sessionKey, e).catch((err: unknown) => {
      this.deps.notKept?.('store_error');
      this.deps.logger.warn({ err: (err as Error).message }, 'could not keep a message in the replay window');
    });
  }

  private markDelivered(id: string): void {
    this.delivered.add(id);
    if (this.delivered.size > this.deps.store.bounds.maxEvents * DELIVERED_FACTOR)
      this.delivered.delete(this.delivered.values().next().value!);
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A JSON-RPC request (a server asking the client), told from a notification by its top-level `id`. */
function isRequest(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && 'id' in v && 'method' in v;
  } catch {
    return false;
  }
}
