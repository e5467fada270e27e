// The calls waiting for a free process: bounded, in arrival order, each with
// a deadline. Every way out — taken by a process, settled while waiting,
// failed by the pool, timed out — goes through delete(), so an entry's timer
// never outlives it.

export interface CallQueueOptions {
  /** Entries at most; a full queue refuses more. */
  readonly capacity: number;
  /** How long an entry may wait before `expired` gets it. */
  readonly timeoutMs: number;
}

export class CallQueue<T> {
  /** Insertion order is arrival order; deleting while iterating is safe. */
  private readonly waiting = new Map<T, NodeJS.Timeout>();

  constructor(
    private readonly opts: CallQueueOptions,
    /** An entry waited `timeoutMs`; it is out of the queue already. */
    private readonly expired: (entry: T) => void,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  get capacity(): number {
    return this.opts.capacity;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** Adds an entry at the back; false (and not added) when the queue is full. */
  offer(entry: T): boolean {
    if (this.waiting.size >= this.opts.capacity) return false;
    const timer = setTimeout(() => {
      if (this.delete(entry)) this.expired(entry);
    }, this.opts.timeoutMs);
    timer.unref();
    this.waiting.set(entry, timer);
    return true;
  }

  /** Takes an entry out; false when it was not waiting. */
  delete(entry: T): boolean {
    const timer = this.waiting.get(entry);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.waiting.delete(entry);
    return true;
  }

  /** The entries in arrival order; the loop may delete() any of them. */
  entries(): IterableIterator<T> {
    return this.waiting.keys();
  }

  /** Takes every entry out, in arrival order. */
  takeAll(): T[] {
    const all = [...this.waiting.keys()];
    for (const entry of all) this.delete(entry);
    return all;
  }
}
