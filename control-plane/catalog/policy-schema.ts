// The policy schema shared by the file source, Consul KV (mcpmesh/policy/<service>)
// and the admin API. Strict objects: an unknown field is an error that names it,
// because a misspelt policy field silently ignored is a production outage later.
import { z } from 'zod';
import { McpPathSchema, SERVER_NAME, SERVER_NAME_RULE } from '../../lib/mesh-contracts.js';
import { ServerAuthSchema } from './auth-schema.js';
import { LoadBalancingSchema } from './load-balancing-schema.js';
import { durationMs, FilePathSchema, TOOL_NAME } from './schema-primitives.js';

export { durationMs, TOOL_NAME };

/** Envoy's HTTP retry_on conditions that make sense for MCP upstreams. */
export const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
] as const;
export type RetryOn = (typeof RETRY_ON)[number];

const HOUR = 3_600_000;

export const RetryPolicySchema = z.strictObject({
  retryOn: z.array(z.enum(RETRY_ON)).min(1).optional(),
  attempts: z.number().int().min(0).max(10).optional(),
  perTryTimeout: durationMs(1, HOUR).optional(),
  backoff: z
    .strictObject({ base: durationMs(1, 60_000), max: durationMs(1, 300_000) })
    .refine((b) => b.max >= b.base, { message: 'backoff.max must be >= backoff.base' })
    .optional(),
});

/**
 * How often one agent may call: `requests` per `per`, with bursts of up to
 * `burst` (default `requests`). Enforced by Envoy per agent identity (the
 * verified identity header, else the client's address) and per tool.
 */
export const RateLimitPolicySchema = z
  .strictObject({
    requests: z.number().int().min(1).max(1_000_000),
    // Envoy refills token buckets no more often than every 50 ms.
    per: durationMs(50, 24 * HOUR),
    burst: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((r) => r.burst === undefined || r.burst >= r.requests, {
    message: 'burst must be >= requests (the bucket holds at least one refill)',
    path: ['burst'],
  });

export const ToolPolicySchema = z.strictObject({
  /** Whole-call bound for one tools/call, retries included. */
  timeout: durationMs(1, HOUR).optional(),
  retry: RetryPolicySchema.optional(),
  /** Overrides the tool's own annotations when deciding what is safe to retry. */
  idempotent: z.boolean().optional(),
  /** This tool's own balancing, in place of the server's (control-plane/catalog/load-balancing-schema.ts). */
  loadBalancing: LoadBalancingSchema.optional(),
  /** Calls of this tool each agent may make; instead of the server's `rateLimit`. */
  rateLimit: RateLimitPolicySchema.optional(),
});

export const OutlierPolicySchema = z
  .strictObject({
    consecutive5xx: z.number().int().min(1).max(1000).optional(),
    consecutiveGatewayFailure: z.number().int().min(1).max(1000).optional(),
    consecutiveLocalOriginFailure: z.number().int().min(1).max(1000).optional(),
    interval: durationMs(10, HOUR).optional(),
    baseEjectionTime: durationMs(10, HOUR).optional(),
    maxEjectionTime: durationMs(10, HOUR).optional(),
    maxEjectionPercent: z.number().int().min(1).max(100).optional(),
  })
  .refine((o) => o.maxEjectionTime === undefined || o.baseEjectionTime === undefined || o.maxEjectionTime >= o.baseEjectionTime, {
    message: 'maxEjectionTime must be >= baseEjectionTime',
    path: ['maxEjectionTime'],
  });

export const CircuitBreakerPolicySchema = z.strictObject({
  maxConnections: z.number().int().min(1).max(1_000_000).optional(),
  maxPendingRequests: z.number().int().min(1).max(1_000_000).optional(),
  maxRequests: z.number().int().min(1).max(1_000_000).optional(),
  retryBudgetPercent: z.number().min(0).max(100).optional(),
  minRetryConcurrency: z.number().int().min(0).max(100_000).optional(),
});

export const HealthCheckPolicySchema = z
  .strictObject({
    path: McpPathSchema.optional(),
    interval: durationMs(100, HOUR).optional(),
    timeout: durationMs(10, 60_000).optional(),
    unhealthyThreshold: z.number().int().min(1).max(100).optional(),
    healthyThreshold: z.number().int().min(1).max(100).optional(),
  })
  .refine((h) => h.timeout === undefined || h.interval === undefined || h.timeout <= h.interval, {
    message: 'timeout must be <= interval',
    path: ['timeout'],
  });

/** A DNS name (wildcards allowed) or an IP address, as a certificate's SAN names it. */
const SanSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9*_.:-]+$/, 'a DNS name or an IP address');

/**
 * How Envoy verifies a TLS upstream (https replicas, Consul meta mcp_tls=true).
 * By default the certificate must chain to the control plane's --upstream-ca
 * and carry the replica's own host (DNS or IP SAN); SNI is the replica's host.
 */
export const TlsPolicySchema = z
  .strictObject({
    /** PEM bundle of the CAs the upstream's certificate must chain to. */
    caFile: FilePathSchema.optional(),
    /** Names the certificate must carry (any one, exact; DNS or IP SAN) instead of each replica's host. */
    san: z.array(SanSchema).min(1).max(64).optional(),
    /** SNI sent to every replica instead of its own host. */
    sni: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9_.-]+$/, 'a DNS name')
      .optional(),
    /** Client certificate (PEM) and key Envoy presents: mTLS to the upstream. */
    clientCertFile: FilePathSchema.optional(),
    clientKeyFile: FilePathSchema.optional(),
    /** Accept any certificate. Only for tests against servers with throwaway certificates; logged as a warning. */
    insecureSkipVerify: z.boolean().optional(),
  })
  .refine((t) => (t.clientCertFile === undefined) === (t.clientKeyFile === undefined), {
    message: 'clientCertFile and clientKeyFile go together',
    path: ['clientKeyFile'],
  })
  .refine((t) => t.insecureSkipVerify !== true || (t.caFile === undefined && t.san === undefined), {
    message: 'insecureSkipVerify verifies nothing: it cannot be combined with caFile or san',
    path: ['insecureSkipVerify'],
  });

/** A routing rule on an `Mcp-Param-*` header (docs/config.md, Routing on tool arguments). */
export const ParamRouteSchema = z.strictObject({
  tool: z.string().regex(TOOL_NAME, 'tool names are 1-128 of A-Z a-z 0-9 _ . / -'),
  /** The name the tool declares in `x-mcp-header` (the header is Mcp-Param-<param>). */
  param: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'an HTTP header token'),
  /** The argument's value, as its header carries it (integers as decimals, booleans as true/false). */
  value: z.string().min(1).max(256),
  /** The catalog server whose replicas serve these calls. */
  server: z.string().regex(SERVER_NAME, SERVER_NAME_RULE),
});

export const PolicySchema = z.strictObject({
  /** Default whole-call bound for tools/call; "0s"-style unbounded is spelt by omitting it. */
  timeout: durationMs(1, HOUR).optional(),
  /** Stream idle timeout for every route of the server (SSE streams stay open while bytes flow). */
  idleTimeout: durationMs(100, 24 * HOUR).optional(),
  connectTimeout: durationMs(10, 60_000).optional(),
  /** Retry policy for calls that are safe to retry (read-only or idempotent tools, other methods). */
  retry: RetryPolicySchema.optional(),
  outlier: OutlierPolicySchema.optional(),
  circuitBreaker: CircuitBreakerPolicySchema.optional(),
  healthCheck: HealthCheckPolicySchema.optional(),
  /** What a Consul "warning" check means for traffic. */
  warning: z.enum(['healthy', 'degraded']).optional(),
  /** Verification of a TLS upstream (applies when the server's replicas are https / mcp_tls=true). */
  tls: TlsPolicySchema.optional(),
  /** How calls are spread over the replicas (control-plane/catalog/load-balancing-schema.ts). */
  loadBalancing: LoadBalancingSchema.optional(),
  /** Calls each agent may make of each tool of this server (tools without a `rateLimit` of their own). */
  rateLimit: RateLimitPolicySchema.optional(),
  tools: z.record(z.string().regex(TOOL_NAME, 'tool names are 1-128 of A-Z a-z 0-9 _ . / -'), ToolPolicySchema).optional(),
  /** Agent identity and per-tool authorization (JWT provider, opt-out, rules); see docs/security.md. */
  auth: ServerAuthSchema.optional(),
  /** 2026-07-28 calls of a tool whose Mcp-Param value (verified against the body) is `value` go to another server's replicas. */
  paramRoutes: z.array(ParamRouteSchema).max(64).optional(),
});

export type TlsPolicy = z.output<typeof TlsPolicySchema>;
export type RateLimitPolicy = z.output<typeof RateLimitPolicySchema>;
export type RetryPolicy = z.output<typeof RetryPolicySchema>;
export type ToolPolicy = z.output<typeof ToolPolicySchema>;
export type Policy = z.output<typeof PolicySchema>;
export type ParamRoutePolicy = z.output<typeof ParamRouteSchema>;
/** The JSON an operator writes (durations still strings). */
export type PolicyInput = z.input<typeof PolicySchema>;

/** Human-readable list of what is wrong, each naming its field path. */
export function describeIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    return `${path || '(root)'}: ${issue.message}`;
  });
}

export type PolicyParse = { ok: true; policy: Policy } | { ok: false; errors: string[] };

export function parsePolicy(input: unknown, prefix = 'policy'): PolicyParse {
  const result = PolicySchema.safeParse(input);
  return result.success ? { ok: true, policy: result.data } : { ok: false, errors: describeIssues(result.error, prefix) };
}
