// The admin API's request and response schemas. Zod is the one source: the
// policy body is the catalog's own PolicySchema, and every schema here is
// converted to JSON Schema (z.toJSONSchema) for the route declarations, where
// fastify serializes responses with it and @fastify/swagger turns the routes
// into the OpenAPI document. Requests are validated by the Zod schemas
// themselves (zodValidatorCompiler), so a policy is judged by the same rules
// and messages whether it comes from the file, Consul KV or this API.
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { LB_STRATEGIES } from '../catalog/load-balancing-schema.js';
import { describeIssues, PolicySchema, RETRY_ON } from '../catalog/policy-schema.js';
import { ValidationError } from './admin-backend.js';
import { HttpError } from './admin-errors.js';

/**
 * JSON Schema of a Zod schema, without `$schema` (OpenAPI 3.1 takes it inline).
 * The input side: a policy shows as the operator writes it (durations as strings).
 */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete out['$schema'];
  return out;
}

// ---- requests -------------------------------------------------------------

export const NameParams = z.strictObject({
  name: z.string().min(1).max(63).describe('MCP server name'),
});
export const ReplicaParams = z.strictObject({
  name: z.string().min(1).max(63).describe('MCP server name'),
  id: z.string().min(1).max(512).describe('Replica id (host:port for the file source, the Consul service id for Consul), URL-encoded'),
});
/** The policy body: exactly the schema the file and Consul KV are held to. */
export const PolicyBody = PolicySchema;

/** Request parts validated by Zod, keyed by `METHOD url part`. */
const requestSchemas = new Map<string, z.ZodType>();
export function requestSchema(method: string, url: string, part: 'params' | 'body', schema: z.ZodType): Record<string, unknown> {
  requestSchemas.set(`${method} ${url} ${part}`, schema);
  return jsonSchema(schema, 'input');
}

/**
 * Validates params and bodies with their Zod schemas. The request keeps what the
 * client sent (a policy is stored as the operator wrote it, durations as
 * strings); a bad policy is a 400 `invalid_policy` naming each field.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ method, url, httpPart }) => {
  const schema = requestSchemas.get(`${method === 'HEAD' ? 'GET' : method} ${url} ${httpPart}`);
  if (!schema) throw new Error(`no Zod schema for ${method} ${url} ${httpPart ?? ''}`);
  return (data: unknown) => {
    const r = schema.safeParse(data);
    if (r.success) return true;
    if (schema === PolicyBody) return { error: new ValidationError('invalid policy', describeIssues(r.error, 'policy')) };
    const details = describeIssues(r.error, httpPart ?? '');
    return { error: new HttpError(400, 'bad_request', `invalid ${httpPart ?? 'request'}`, details) };
  };
};

// ---- responses ------------------------------------------------------------

export const ErrorBody = z.object({
  error: z.object({
    code: z
      .string()
      .describe(
        'Machine-readable: bad_request, invalid_policy, unauthorized, forbidden, not_found, payload_too_large, unsupported_media_type, internal',
      ),
    message: z.string(),
    details: z.array(z.string()).optional(),
  }),
});

const Health = z.enum(['healthy', 'degraded', 'unhealthy', 'draining']);
const ms = z.number().describe('milliseconds');

const EffectiveRetry = z.object({
  retryOn: z.array(z.enum(RETRY_ON)),
  attempts: z.number().int(),
  perTryTimeoutMs: ms.optional(),
  backoffBaseMs: ms,
  backoffMaxMs: ms,
});

const EffectiveLoadBalancing = z
  .object({
    strategy: z.enum(LB_STRATEGIES),
    hashOn: z.union([z.object({ header: z.string() }), z.object({ argument: z.string() })]).optional(),
    slowStart: z.object({ windowMs: ms, aggression: z.number(), minWeightPercent: z.number() }).optional(),
  })
  .describe('How calls are spread over the replicas (docs/config.md, Balancing)');

export const ToolRoute = z.object({
  tool: z.string(),
  origin: z
    .enum(['explicit', 'annotations'])
    .describe("explicit: from the policy; annotations: from the tool's own tools/list annotations"),
  idempotent: z.boolean(),
  timeoutMs: ms.optional().describe('Whole-call bound, retries included; absent: none'),
  retry: EffectiveRetry,
  loadBalancing: EffectiveLoadBalancing,
});

const EffectivePolicy = z.object({
  connectTimeoutMs: ms,
  idleTimeoutMs: ms,
  toolTimeoutMs: ms.optional(),
  safeRetry: EffectiveRetry,
  unsafeRetry: EffectiveRetry,
  outlier: z.object({
    consecutive5xx: z.number().int(),
    consecutiveGatewayFailure: z.number().int(),
    consecutiveLocalOriginFailure: z.number().int(),
    intervalMs: ms,
    baseEjectionTimeMs: ms,
    maxEjectionTimeMs: ms,
    maxEjectionPercent: z.number().int(),
  }),
  circuitBreaker: z.object({
    maxConnections: z.number().int(),
    maxPendingRequests: z.number().int(),
    maxRequests: z.number().int(),
    retryBudgetPercent: z.number(),
    minRetryConcurrency: z.number().int(),
  }),
  healthCheck: z
    .object({ path: z.string(), intervalMs: ms, timeoutMs: ms, unhealthyThreshold: z.number().int(), healthyThreshold: z.number().int() })
    .optional()
    .describe('Envoy active health checking; absent: none'),
  loadBalancing: EffectiveLoadBalancing,
});

export const Replica = z.object({
  id: z.string(),
  address: z.string().describe('host:port'),
  health: Health.describe('As the source reports it'),
  weight: z.number().int(),
  drained: z.boolean().describe('Drained through the admin API: no new traffic'),
  locality: z
    .object({ datacenter: z.string().optional(), zone: z.string().optional() })
    .optional()
    .describe('Where the replica runs; absent: the local datacenter, no zone'),
});

export const Server = z.object({
  name: z.string(),
  path: z.string().describe("The server's own MCP path"),
  agentUrlPath: z.string().describe('Path on the Envoy listener: /mcp/<name>'),
  protocol: z.enum(['auto', '2025', '2026']),
  replicas: z.array(Replica),
  explicitPolicy: z.union([PolicySchema, z.null()]).describe('The policy as the operator wrote it (durations as strings), or null'),
  effectivePolicy: z
    .object({ policy: EffectivePolicy, toolRoutes: z.array(ToolRoute) })
    .describe('The resolved policy in force: defaults filled in, one route per tool'),
});

const TypeName = z.enum(['clusters', 'endpoints', 'listeners', 'routes']);
const perType = <T extends z.ZodType>(t: T) => z.object({ clusters: t, endpoints: t, listeners: t, routes: t });

export const Client = z.object({
  streamId: z.string(),
  nodeId: z.string(),
  cluster: z.string(),
  variant: z.enum(['sotw', 'delta']),
  connectedSince: z.string().describe('ISO 8601'),
  peer: z.string(),
  acked: z
    .object({ clusters: z.string(), endpoints: z.string(), listeners: z.string(), routes: z.string() })
    .partial()
    .describe('Last version ACKed per type; absent: nothing ACKed yet'),
  lastNack: z
    .object({ type: TypeName, version: z.string(), message: z.string().describe("Envoy's error text"), at: z.string() })
    .optional(),
});

const AnyObject = z.record(z.string(), z.unknown());

export const Snapshot = z.object({
  version: perType(z.string()).describe('Version per resource type ("" while none)'),
  resources: perType(
    z.array(z.object({ name: z.string(), version: z.string(), resource: AnyObject.describe('The Envoy resource as JSON') })),
  ),
});

export const SourceStatus = z.object({
  kind: z.enum(['file', 'consul']),
  synced: z.boolean(),
  stale: z.boolean(),
  lastError: z.string().optional(),
  lastSyncAt: z.number().optional().describe('ms since epoch of the last delivered state'),
});

export const Readiness = z.object({
  ready: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});

export const TargetGroups = z.array(z.object({ targets: z.array(z.string()), labels: z.record(z.string(), z.string()) }));

export const Accepted = z.object({ status: z.literal('accepted'), server: z.string() });
export const DrainState = z.object({ status: z.enum(['draining', 'serving']), server: z.string(), replica: z.string() });
export const Alive = z.object({ status: z.literal('ok') });

// ---- the console's view ---------------------------------------------------

const EnvoyHostView = z.object({
  envoy: z.string().describe('Envoy admin URL'),
  healthy: z.boolean(),
  flags: z
    .array(z.string())
    .describe(
      'Envoy health flags: failed_active_health_check, failed_outlier_check (ejected), eds_unhealthy, eds_draining, pending_dynamic_removal, ...',
    ),
});

export const OverviewReplica = Replica.extend({
  status: z
    .enum(['healthy', 'degraded', 'unhealthy', 'draining', 'drained', 'ejected', 'unknown'])
    .describe("Drain first, then Envoy's view (ejected, failed health check), then the source's health"),
  ejected: z.boolean().describe('Ejected by outlier detection (from Envoy admin /clusters)'),
  envoy: z.array(EnvoyHostView).describe("Each known Envoy's view of this host (empty without --envoy-admin-url)"),
  adapterReady: z
    .boolean()
    .optional()
    .describe("The adapter's mcpmesh_adapter_ready, from its /metrics (adapters only; absent: not scraped)"),
  scrapeError: z.string().optional(),
});

export const ToolStats = z.object({
  server: z.string(),
  tool: z.string(),
  callsPerSecond: z.number(),
  errorsPerSecond: z.number().describe('Calls whose outcome was not ok'),
  p99Seconds: z.number().optional().describe('Absent while there were no calls in the window'),
});

export const Overview = z.object({
  generatedAt: z.string(),
  readiness: Readiness,
  source: SourceStatus,
  envoy: z.object({
    adminUrls: z.array(z.string()),
    errors: z.array(z.string()).describe('Envoy admin URLs that did not answer'),
  }),
  servers: z.array(
    z.object({
      name: z.string(),
      agentUrlPath: z.string(),
      protocol: z.enum(['auto', '2025', '2026']),
      replicas: z.array(OverviewReplica),
      toolTimeoutMs: ms.optional(),
      safeRetry: EffectiveRetry,
      unsafeRetry: EffectiveRetry,
      toolRoutes: z.array(ToolRoute),
    }),
  ),
  clients: z.array(Client),
  traffic: z.object({
    from: z
      .enum(['prometheus', 'adapters', 'none'])
      .describe("prometheus with --prometheus-url, else the control plane's own scrape of the adapters"),
    windowSeconds: z.number(),
    tools: z.array(ToolStats),
    error: z.string().optional(),
  }),
});

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
export type OverviewBody = DeepReadonly<z.output<typeof Overview>>;
export type OverviewReplicaBody = DeepReadonly<z.output<typeof OverviewReplica>>;
export type ToolStatsBody = DeepReadonly<z.output<typeof ToolStats>>;
