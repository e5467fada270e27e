// A server's explicit policy → the policy in force: defaults filled in, and
// one route per tool whose retries follow what is safe for that tool. Pure.
import { resolveLoadBalancing } from './load-balancing.js';
import type { EffectivePolicy, EffectiveRateLimit, EffectiveRetry, ToolInfo, ToolRoute } from './model.js';
import type { Policy, RateLimitPolicy, RetryPolicy } from './policy-schema.js';

/** Retryable for any MCP call: the failure says the request never reached a server. */
const NEVER_REACHED: EffectiveRetry['retryOn'] = ['connect-failure', 'refused-stream', 'reset-before-request', 'retriable-headers'];
/** Also retry failures after the server saw the request: only for safe calls. */
const ANY_RETRYABLE: EffectiveRetry['retryOn'] = ['5xx', 'reset', 'connect-failure', 'refused-stream', 'retriable-headers'];

export const DEFAULTS = {
  connectTimeoutMs: 1_000,
  idleTimeoutMs: 300_000,
  retry: { attempts: 2, backoffBaseMs: 25, backoffMaxMs: 250 },
  outlier: {
    consecutive5xx: 3,
    consecutiveGatewayFailure: 2,
    consecutiveLocalOriginFailure: 2,
    intervalMs: 1_000,
    baseEjectionTimeMs: 5_000,
    maxEjectionTimeMs: 30_000,
    maxEjectionPercent: 50,
  },
  circuitBreaker: {
    maxConnections: 4096,
    maxPendingRequests: 4096,
    maxRequests: 4096,
    retryBudgetPercent: 25,
    // A replica that dies takes every call in flight on it down at once, and
    // each needs its one retry together: the floor lets a replica with up to
    // this many calls in flight fail without refusing them a retry (the fault
    // suite's crash scenario overflowed a floor of 10).
    minRetryConcurrency: 32,
  },
  healthCheck: { intervalMs: 2_000, timeoutMs: 1_000, unhealthyThreshold: 2, healthyThreshold: 1 },
} as const;

function resolveRetry(
  base: readonly EffectiveRetry['retryOn'][number][],
  explicit: RetryPolicy | undefined,
  fallback?: RetryPolicy,
): EffectiveRetry {
  const r = { ...fallback, ...explicit };
  return {
    retryOn: r.retryOn ?? base,
    attempts: r.attempts ?? DEFAULTS.retry.attempts,
    perTryTimeoutMs: r.perTryTimeout,
    backoffBaseMs: r.backoff?.base ?? DEFAULTS.retry.backoffBaseMs,
    backoffMaxMs: r.backoff?.max ?? DEFAULTS.retry.backoffMaxMs,
  };
}

export function resolvePolicy(policy: Policy): EffectivePolicy {
  const hc = policy.healthCheck;
  return {
    connectTimeoutMs: policy.connectTimeout ?? DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: policy.idleTimeout ?? DEFAULTS.idleTimeoutMs,
    toolTimeoutMs: policy.timeout,
    safeRetry: resolveRetry(ANY_RETRYABLE, policy.retry),
    // The server-wide retry policy may tune attempts/backoff for unsafe calls
    // too, but never widens what is retried.
    unsafeRetry: resolveRetry(NEVER_REACHED, policy.retry ? { ...policy.retry, retryOn: undefined } : undefined),
    outlier: {
      consecutive5xx: policy.outlier?.consecutive5xx ?? DEFAULTS.outlier.consecutive5xx,
      consecutiveGatewayFailure: policy.outlier?.consecutiveGatewayFailure ?? DEFAULTS.outlier.consecutiveGatewayFailure,
      consecutiveLocalOriginFailure: policy.outlier?.consecutiveLocalOriginFailure ?? DEFAULTS.outlier.consecutiveLocalOriginFailure,
      intervalMs: policy.outlier?.interval ?? DEFAULTS.outlier.intervalMs,
      baseEjectionTimeMs: policy.outlier?.baseEjectionTime ?? DEFAULTS.outlier.baseEjectionTimeMs,
      // Envoy rejects a max below the base; a base raised alone lifts the default max.
      maxEjectionTimeMs: Math.max(
        policy.outlier?.maxEjectionTime ?? DEFAULTS.outlier.maxEjectionTimeMs,
        policy.outlier?.baseEjectionTime ?? DEFAULTS.outlier.baseEjectionTimeMs,
      ),
      maxEjectionPercent: policy.outlier?.maxEjectionPercent ?? DEFAULTS.outlier.maxEjectionPercent,
    },
    circuitBreaker: { ...DEFAULTS.circuitBreaker, ...stripUndefined(policy.circuitBreaker ?? {}) },
    healthCheck:
      hc?.path === undefined
        ? undefined
        : {
            path: hc.path,
            intervalMs: hc.interval ?? DEFAULTS.healthCheck.intervalMs,
            timeoutMs: hc.timeout ?? DEFAULTS.healthCheck.timeoutMs,
            unhealthyThreshold: hc.unhealthyThreshold ?? DEFAULTS.healthCheck.unhealthyThreshold,
            healthyThreshold: hc.healthyThreshold ?? DEFAULTS.healthCheck.healthyThreshold,
          },
    loadBalancing: resolveLoadBalancing(policy.loadBalancing),
    ...(policy.rateLimit !== undefined ? { rateLimit: resolveRateLimit(policy.rateLimit) } : {}),
    ...(policy.tls !== undefined ? { tls: policy.tls } : {}),
  };
}

function resolveRateLimit(r: RateLimitPolicy): EffectiveRateLimit {
  return { maxTokens: r.burst ?? r.requests, tokensPerFill: r.requests, fillIntervalMs: r.per };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * One route per tool the server announced or the policy names. A tool's
 * annotations decide what is safe to retry unless the policy says otherwise:
 * read-only or idempotent tools retry on any retryable failure, the others only
 * where the request never reached the server.
 */
export function resolveToolRoutes(policy: Policy, effective: EffectivePolicy, tools: readonly ToolInfo[]): ToolRoute[] {
  const known = new Map(tools.map((t) => [t.name, t]));
  const names = new Set([...known.keys(), ...Object.keys(policy.tools ?? {})]);
  return [...names].sort().map((name) => {
    const explicit = policy.tools?.[name];
    const info = known.get(name);
    const idempotent = explicit?.idempotent ?? (info ? info.readOnly || info.idempotent : false);
    const base = idempotent ? ANY_RETRYABLE : NEVER_REACHED;
    const rateLimit = explicit?.rateLimit ?? policy.rateLimit;
    const serverRetry = policy.retry ? { ...policy.retry, retryOn: idempotent ? policy.retry.retryOn : undefined } : undefined;
    return {
      tool: name,
      origin: explicit ? 'explicit' : 'annotations',
      idempotent,
      timeoutMs: explicit?.timeout ?? effective.toolTimeoutMs,
      retry: resolveRetry(base, explicit?.retry, serverRetry),
      // A tool's own balancing replaces the server's whole: mixing fields of two would make combinations nobody wrote.
      loadBalancing: explicit?.loadBalancing !== undefined ? resolveLoadBalancing(explicit.loadBalancing) : effective.loadBalancing,
      ...(rateLimit !== undefined ? { rateLimit: resolveRateLimit(rateLimit) } : {}),
    };
  });
}
