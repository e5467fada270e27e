// Requests that are their own failure ("queries of death"), per adapter: a
// request whose answer overflowed the line limit, or that a process died or
// hung on with nothing else in flight, is poisoned; one that was in flight
// with others when a process died on its own gets a strike, and a second
// strike poisons it. A poisoned request is answered 422 at once for a while
// (see failure-classes.ts), without costing another process. Keyed by a
// fingerprint of method and params; bounded in entries and time.
import { createHash } from 'node:crypto';

const DEFAULT_TTL_MS = 10 * 60_000;
const DEFAULT_MAX = 4_096;

interface Entry {
  readonly until: number;
  readonly detail: string;
}

export class QueryOfDeathRegistry {
  private readonly poisoned = new Map<string, Entry>();
  private readonly strikes = new Map<string, number>();

  constructor(
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly max = DEFAULT_MAX,
    private readonly now: () => number = Date.now,
  ) {}

  /** Why this request is known to be poisoned, or undefined. */
  poisonedWhy(fingerprint: string): string | undefined {
    const e = this.poisoned.get(fingerprint);
    if (e === undefined) return undefined;
    if (e.until <= this.now()) {
      this.poisoned.delete(fingerprint);
      return undefined;
    }
    return e.detail;
  }

  poison(fingerprint: string, detail: string): void {
    this.poisoned.delete(fingerprint);
    this.poisoned.set(fingerprint, { until: this.now() + this.ttlMs, detail });
    this.strikes.delete(fingerprint);
    trim(this.poisoned, this.max);
  }

  /** Records a strike; true when the request had struck before (within the TTL). */
  strike(fingerprint: string): boolean {
    const until = this.strikes.get(fingerprint);
    const now = this.now();
    if (until !== undefined && until > now) return true;
    this.strikes.delete(fingerprint);
    this.strikes.set(fingerprint, now + this.ttlMs);
    trim(this.strikes, this.max);
    return false;
  }

  get size(): number {
    return this.poisoned.size;
  }
}

function trim(map: Map<string, unknown>, max: number): void {
  // Maps iterate in insertion order: the oldest go first.
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

/** A request's fingerprint: its method and its params' exact text. */
export function requestFingerprint(method: string, paramsText: string): string {
  return createHash('sha256').update(method).update('\n').update(paramsText).digest('base64url');
}
