// How a server's (or one tool's) calls are spread over its replicas: the
// `loadBalancing` field of a server policy and of a tool policy. Shared by the
// file, Consul KV and the admin API through the policy schema.
import { z } from 'zod';
import { parseDuration } from '../../lib/duration.js';

export const LB_STRATEGIES = ['least-request', 'round-robin', 'random', 'ring-hash', 'maglev'] as const;
export type LbStrategy = (typeof LB_STRATEGIES)[number];

/** Strategies that pick by a hash of the request; they need `hashOn`. */
export const HASH_STRATEGIES: readonly LbStrategy[] = ['ring-hash', 'maglev'];
/** Strategies Envoy can ramp a new replica up in (slow start). */
export const SLOW_START_STRATEGIES: readonly LbStrategy[] = ['least-request', 'round-robin'];

const HOUR = 3_600_000;

/** Lower-case HTTP header names (Envoy matches them case-insensitively); pseudo-headers are not keys. */
const HeaderNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9!#$%&'*+.^_`|~-]{0,127}$/, "a lower-case HTTP header name (1-128 of a-z 0-9 and !#$%&'*+.^_`|~-)");

/** Top-level keys of a tools/call's `params.arguments`. */
export const ARGUMENT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ArgumentNameSchema = z.string().regex(ARGUMENT_NAME, 'an argument name (1-64 of A-Z a-z 0-9 _ -)');

export const HashOnSchema = z.union([z.strictObject({ header: HeaderNameSchema }), z.strictObject({ argument: ArgumentNameSchema })]);

const windowMs = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1_000 || ms > HOUR) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration within 1s..1h (use e.g. 30s, 2m)` });
    return z.NEVER;
  }
  return ms;
});

export const SlowStartSchema = z.strictObject({
  /** How long a new replica (or one back from ejection) takes to reach its full share. */
  window: windowMs,
  /** Envoy's aggression: 1 ramps linearly, larger values start slower and catch up later. */
  aggression: z.number().min(0.1).max(10).optional(),
  /** The share a new replica starts with, in percent of its full weight. */
  minWeightPercent: z.number().min(0).max(100).optional(),
});

export const LoadBalancingSchema = z
  .strictObject({
    strategy: z.enum(LB_STRATEGIES).optional(),
    /** What the hash strategies hash: a request header, or a top-level argument of a tools/call. */
    hashOn: HashOnSchema.optional(),
    slowStart: SlowStartSchema.optional(),
  })
  .superRefine((lb, ctx) => {
    const strategy = lb.strategy ?? 'least-request';
    const hashing = HASH_STRATEGIES.includes(strategy);
    if (hashing && lb.hashOn === undefined)
      ctx.addIssue({ code: 'custom', path: ['hashOn'], message: `${strategy} needs hashOn ({ header } or { argument })` });
    if (!hashing && lb.hashOn !== undefined)
      ctx.addIssue({ code: 'custom', path: ['hashOn'], message: `hashOn is for ring-hash and maglev, not ${strategy}` });
    if (lb.slowStart !== undefined && !SLOW_START_STRATEGIES.includes(strategy))
      ctx.addIssue({ code: 'custom', path: ['slowStart'], message: `slowStart is for least-request and round-robin, not ${strategy}` });
  });

export type HashOn = z.output<typeof HashOnSchema>;
export type LoadBalancingPolicy = z.output<typeof LoadBalancingSchema>;
