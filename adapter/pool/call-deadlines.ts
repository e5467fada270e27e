// The adapter's call timeout for all calls at once: calls are kept in start
// order and a coarse sweep expires the oldest, instead of one timer per call
// on the hot path. A timeout fires up to one sweep interval late.

/** What the sweep needs of a call. */
export interface Expiring {
  readonly startedAt: number;
  expire(ms: number): void;
}

export class CallDeadlines {
  private readonly open = new Set<Expiring>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly timeoutMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.max(10, Math.min(1_000, timeoutMs / 10)));
    this.timer.unref();
  }

  add(call: Expiring): void {
    this.open.add(call);
  }

  delete(call: Expiring): void {
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
