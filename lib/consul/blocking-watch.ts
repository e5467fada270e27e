// One Consul blocking query, kept running. Consul's rules for blocking
// queries are kept here, so no caller has to know them:
//  - The wait index is the last X-Consul-Index; an index that goes backwards
//    (a restarted or replaced server) resets it, and 0 is never sent as one.
//  - Wake-ups are rate limited by a token bucket, not by a sleep on every loop.
//  - Errors back off exponentially with jitter.
import { type BackoffPolicy, backoffDelay } from '../backoff.js';
import type { ConsulHttp } from './consul-http.js';

/** Capped low: Consul is usually a local agent, and a stale catalog costs more than a few requests. */
const WATCH_BACKOFF: BackoffPolicy = { baseMs: 400, maxMs: 5_000, jitter: 0.5 };

/**
 * Wake-ups per second (and burst) before the loop waits: far above what a
 * healthy catalog changes at, low enough that a query returning at once in a
 * loop cannot hammer Consul. Faster changes are coalesced, not lost.
 */
const DEFAULT_RATE = 20;

export interface WatchEvents<T> {
  /** A fresh answer. `reset` is true when the index went backwards (Consul restarted or was replaced). */
  data(body: T, index: number, reset: boolean): void;
  error(err: Error): void;
}

export interface WatchOptions {
  readonly path: string;
  readonly endpoint: string;
  readonly query?: Record<string, string | undefined>;
  readonly consistent?: boolean;
  readonly waitSeconds?: number;
  /** Wake-ups allowed per second on average, and as a burst. */
  readonly ratePerSecond?: number;
  readonly burst?: number;
  /** Body to use when Consul answers 404 (an empty KV prefix). */
  readonly notFoundAs?: unknown;
}

export class BlockingWatch<T> {
  private index = 0;
  /** Highest index seen, kept across errors: a lower one later means a new Consul. */
  private lastSeen = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private tokens: number;
  private lastRefill = performance.now();
  private failures = 0;

  constructor(
    private readonly http: Pick<ConsulHttp, 'request'>,
    private readonly opts: WatchOptions,
    private readonly events: WatchEvents<T>,
  ) {
    this.tokens = opts.burst ?? DEFAULT_RATE;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async takeToken(): Promise<void> {
    const rate = this.opts.ratePerSecond ?? DEFAULT_RATE;
    const burst = this.opts.burst ?? DEFAULT_RATE;
    const now = performance.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return;
    }
    await this.delay(((1 - this.tokens) / rate) * 1000);
    this.tokens = 0;
    this.lastRefill = performance.now();
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async loop(): Promise<void> {
    const wait = this.opts.waitSeconds ?? 300;
    while (!this.stopped) {
      await this.takeToken();
      if (this.stopped) return;
      try {
        const res = await this.http.request<T>('GET', this.opts.path, {
          endpoint: this.opts.endpoint,
          query: {
            ...this.opts.query,
            ...(this.index > 0 ? { index: String(this.index), wait: `${wait}s` } : {}),
            ...(this.opts.consistent ? { consistent: '' } : { stale: '' }),
          },
          signal: this.abort.signal,
          ...(this.opts.notFoundAs !== undefined ? { notFoundAs: this.opts.notFoundAs as T } : {}),
          // Consul adds up to wait/16 of jitter to the wait.
          timeoutMs: (wait + wait / 16 + 10) * 1000,
        });
        this.failures = 0;
        const reset = res.index > 0 && res.index < this.lastSeen;
        if (this.index > 0 && res.index === this.index && !reset) continue; // woke up with nothing new
        this.index = Math.max(1, res.index);
        this.lastSeen = reset ? this.index : Math.max(this.lastSeen, this.index);
        this.events.data(res.body, this.index, reset);
      } catch (err) {
        if (this.stopped) return;
        this.failures += 1;
        // Start over without a wait index: the server may be a new one.
        this.index = 0;
        this.events.error(err as Error);
        await this.delay(backoffDelay(WATCH_BACKOFF, this.failures));
      }
    }
  }
}
