// Retry delays for anything that failed and will try again (processes,
// Consul watches, registrations): exponential, capped, with jitter so that
// many replicas that failed together do not retry in lockstep.

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Share of the delay that is random: 0.5 gives a delay in [d/2, d]. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000, jitter: 0.5 };

/** Delay before retry number `failures` (1 = after the first failure). */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(exp * (1 - policy.jitter + policy.jitter * random()));
}
