// When a bounded session store trims itself: after `every` writes of this
// process, or `intervalMs` after a write, one sweep at a time. Amortized over
// writes, a write stays cheap while the count stays within the bound plus
// `every` per writing replica.
import { SessionStateError } from './session-state-store.js';

export interface SweepScheduleOptions {
  readonly every: number;
  readonly intervalMs: number;
  /** What a failed background sweep is reported as (`session state sweep of WHAT failed`). */
  readonly what: string;
  readonly onError?: (message: string) => void;
}

export class SweepSchedule {
  private writes = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The sweep that follows the running one, shared by every caller until it starts. */
  private next: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly sweepOnce: () => Promise<void>,
    private readonly opts: SweepScheduleOptions,
  ) {
    if (!Number.isSafeInteger(opts.every) || opts.every < 1)
      throw new SessionStateError('sweepEvery must be a positive integer', 'invalid_state');
  }

  /**
   * A sweep that starts after this call: now, or once the running one ends.
   * Joining the running sweep would not do: it may have read the keys before
   * the writes this caller made, and end with the store still over its bound.
   */
  run(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.start().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.run();
      });
    return this.next;
  }

  /** Counts a write; sweeps in the background when the write count or the interval says so. */
  wrote(): void {
    this.writes++;
    if (this.writes >= this.opts.every) {
      this.background();
      return;
    }
    if (this.timer === undefined && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.background();
      }, this.opts.intervalMs);
      this.timer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // The queued sweep ends after the running one; either may be the one left when the other settles.
    while (this.running !== undefined || this.next !== undefined) await (this.next ?? this.running)?.catch(() => undefined);
  }

  private start(): Promise<void> {
    this.writes = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.sweepOnce();
  }

  private background(): void {
    if (this.closed) return;
    this.run().catch((err: unknown) => this.opts.onError?.(`session state sweep of ${this.opts.what} failed: ${(err as Error).message}`));
  }
}
