// Notices that this adapter was paused: stopped (SIGSTOP), frozen with its VM
// or container, or its event loop blocked for longer than `thresholdMs`.
// While it was paused, Envoy may have moved its sessions to other replicas,
// which carry them on with state this replica has not seen; a session-recheck
// (session-recheck.ts) then asks the shared store before serving them again.
//
// The monotonic clock goes on while a process is stopped, so the first look
// at it after the resume sees the gap. Two looks: a timer, and every request
// that names a session (`check`), because after a resume the requests queued
// on the sockets run before any timer does.
export interface PauseWatchOptions {
  /** A gap between two looks at the clock longer than this is a pause. */
  readonly thresholdMs: number;
  /** How often the timer looks (default: a quarter of the threshold, at most 250 ms). */
  readonly tickMs?: number;
  /** Monotonic milliseconds (tests). */
  readonly now?: () => number;
  readonly onPause: (gapMs: number) => void;
}

export class PauseWatch {
  private last: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: PauseWatchOptions) {
    if (!Number.isFinite(opts.thresholdMs) || opts.thresholdMs <= 0) throw new RangeError('thresholdMs must be positive');
    this.now = opts.now ?? (() => performance.now());
    this.last = this.now();
  }

  start(): void {
    if (this.timer !== undefined) return;
    const tick = this.opts.tickMs ?? Math.max(10, Math.min(250, Math.floor(this.opts.thresholdMs / 4)));
    this.last = this.now();
    this.timer = setInterval(() => this.check(), tick);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks at the clock: true (and onPause) when it jumped since the last look. One comparison on the request path. */
  check(): boolean {
    // Without the timer, requests far apart would look like pauses.
    if (this.timer === undefined) return false;
    const t = this.now();
    const gap = t - this.last;
    this.last = t;
    if (gap <= this.opts.thresholdMs) return false;
    this.opts.onPause(gap);
    return true;
  }
}
