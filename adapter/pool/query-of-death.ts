// Requests that are their own failure ("queries of death"), per adapter: a
// request whose answer overflowed the line limit, or that a process died or
// hung on with nothing else in flight, is poisoned; one that was in flight
// with others when a process died on its own gets a strike, and a second
// strike with no answer between poisons it. A poisoned request is answered
// 422 at once for a while (see failure-classes.ts), without costing another
// process. Keyed by a fingerprint of method and params; bounded in entries
// and time.
//
// A request this adapter has seen answered is not a killer: a server that
// crashes now and then takes it down, not the request, so its failure is an
// ordinary crash that Envoy may retry elsewhere. Each answer earns one such
// excuse, up to ANSWER_CREDIT_MAX: a pool's processes that crash together
// (they were started together and count calls alike) are each excused, and a
// request that turned deadly spends its few excuses and is then struck as
// usual, so it cannot roam the fleet.
import * as crypto from 'node:crypto';

const DEFAULT_TTL_MS = 10 * 60_000;
const DEFAULT_MAX = 4_096;
const ANSWER_CREDIT_MAX = 4;

interface Entry {
  readonly until: number;
  readonly detail: string;
}

export class QueryOfDeathRegistry {
  private readonly poisoned = new Map<string, Entry>();
  private readonly strikes = new Map<string, number>();
  private readonly answered = new Map<string, { credit: number; until: number }>();

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

  /** The request was answered: it earns an excuse, and earlier strikes are forgiven. */
  recordAnswered(fingerprint: string): void {
    if (this.strikes.size > 0) this.strikes.delete(fingerprint);
    const now = this.now();
    const was = this.answered.get(fingerprint);
    const credit = Math.min(ANSWER_CREDIT_MAX, (was !== undefined && was.until > now ? was.credit : 0) + 1);
    if (was !== undefined) this.answered.delete(fingerprint);
    this.answered.set(fingerprint, { credit, until: now + this.ttlMs });
    trim(this.answered, this.max);
  }

  /**
   * True if the request has an excuse left from earlier answers (within the
   * TTL): its failure now is the server's. The excuse is spent and a strike
   * recorded, so failing with no excuse left and no answer between counts
   * against the request.
   */
  excusedByEarlierAnswer(fingerprint: string): boolean {
    const was = this.answered.get(fingerprint);
    if (was === undefined) return false;
    if (was.until <= this.now() || was.credit <= 0) {
      this.answered.delete(fingerprint);
      return false;
    }
    was.credit -= 1;
    this.strike(fingerprint);
    return true;
  }

  get size(): number {
    return this.poisoned.size;
  }
}

/** What a process that ended on its own says about one request in flight on it. */
export type DeathVerdict =
  /** `suspect`: struck, not excused by an earlier answer: it may be the killer (crash-replay.ts finds out). */
  { readonly guilty: false; readonly suspect: boolean } | { readonly guilty: true; readonly why: string; readonly remembered: boolean };

/**
 * Judges the requests in flight when a process ended on its own, once per
 * distinct request: copies of one request sent by several clients share a
 * verdict, so the second copy is not taken for a repeat of the first, and a
 * killer sent by many at once still counts as alone.
 */
export function judgeDeath(
  registry: QueryOfDeathRegistry,
  inFlight: readonly { readonly fingerprint: string; readonly retried: boolean }[],
): Map<string, DeathVerdict> {
  const verdicts = new Map<string, DeathVerdict>();
  const distinct = new Set(inFlight.map((c) => c.fingerprint));
  const retried = new Set(inFlight.filter((c) => c.retried).map((c) => c.fingerprint));
  for (const fp of distinct) {
    if (registry.excusedByEarlierAnswer(fp)) {
      verdicts.set(fp, { guilty: false, suspect: false });
      continue;
    }
    const again = registry.strike(fp);
    if (again) verdicts.set(fp, { guilty: true, why: 'it was in flight when a process failed before', remembered: true });
    else if (distinct.size === 1) verdicts.set(fp, { guilty: true, why: 'it was the only call in flight', remembered: false });
    else if (retried.has(fp))
      verdicts.set(fp, { guilty: true, why: "it is a proxy's retry of a call that failed elsewhere", remembered: false });
    else verdicts.set(fp, { guilty: false, suspect: true });
  }
  return verdicts;
}

function trim(map: Map<string, unknown>, max: number): void {
  // Every answered call comes here: no iterator while the map is within its bound.
  if (map.size <= max) return;
  // Maps iterate in insertion order: the oldest go first.
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

/**
 * Up to this many characters of params, a fingerprint is the text itself: every
 * answered call takes one (the answered-request memory), and a short text is
 * cheaper kept whole than hashed. At most 3 × DEFAULT_MAX of them are kept.
 */
const VERBATIM_PARAMS_MAX = 256;

/**
 * A request's fingerprint: its method and its params' exact text, as that
 * text when it is short (it has a newline, which a digest never has), else
 * its SHA-256 (node's one-shot hash where there is one, Node 20.12: a third of
 * a Hash object's cost, the same digest).
 */
export function requestFingerprint(method: string, paramsText: string): string {
  const text = `${method}\n${paramsText}`;
  if (paramsText.length <= VERBATIM_PARAMS_MAX) return text;
  if (typeof crypto.hash === 'function') return crypto.hash('sha256', text, 'base64url');
  return crypto.createHash('sha256').update(text).digest('base64url');
}
