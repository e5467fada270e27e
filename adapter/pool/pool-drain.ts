// Draining the pool: once begun, readiness is false and new stateless calls
// are refused, while the calls in flight or queued run out; the adapter waits
// for that, up to its deadline.

export class PoolDrain {
  private draining = false;
  private readonly idleWaiters: Array<() => void> = [];

  get active(): boolean {
    return this.draining;
  }

  begin(): void {
    this.draining = true;
  }

  /** Resolves true at the next idle(), false at the deadline; true at once if `idleNow`. */
  async waitIdle(idleNow: boolean, deadlineMs: number): Promise<boolean> {
    if (idleNow) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    return idle;
  }

  /** Nothing is in flight or queued now. */
  idle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
