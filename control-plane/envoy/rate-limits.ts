// Rate limits per agent and per tool, enforced by Envoy's local rate limit
// filter. The listener carries the filter switched off; each limited route
// switches it on with its own token buckets (typed_per_filter_config), so a
// change of limits is a route update: the listener, and the connections and
// streams on it, stay as they are.
//
// Who the agent is: the verified identity header when the JWT filter set it
// (agent-auth.ts; an agent's own copy is removed first thing), else the
// address of the client's connection (Envoy's trusted client
// address; the listener uses the peer's address). Each (agent, tool) pair gets
// a bucket of its own: wildcard descriptor values make Envoy create buckets as
// new values appear, up to MAX_BUCKETS per route (least recently used out).
//
// Over the limit Envoy answers 429 with Retry-After and a JSON-RPC error
// (listener's local reply mapper, below) before the router: the request
// reaches no upstream and no retry policy sees it.

import { AGENT_IDENTITY_HEADER } from '../../lib/mesh-contracts.js';
import type { EffectiveRateLimit } from '../catalog/model.js';
import { ROUTE_KEY_NAMESPACE } from './mcp-route-keys.js';
import { struct, typedStruct } from './proto-values.js';

export const RATE_LIMIT_FILTER = 'envoy.filters.http.local_ratelimit';
const LOCAL_RATE_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** Buckets per route (agents × tools seen recently); past it the least recently used bucket starts afresh. */
export const MAX_BUCKETS = 10_000;

/** JSON-RPC error code of the 429 (the MCP SDKs' generic server error, as the adapter's session limits use). */
export const RATE_LIMITED_CODE = -32000;

/** Descriptor keys: what each bucket is keyed by. */
const KEY = { agent: 'agent', anonymous: 'anonymous', address: 'remote_address', tool: 'tool' } as const;

/** Where the listener's filter chain puts the filter: after the body's route keys and the rules, before the router. */
export function rateLimitHttpFilter(): object {
  return {
    name: RATE_LIMIT_FILTER,
    // No token bucket and no filter_enabled: off wherever a route does not switch it on.
    typed_config: typedStruct(LOCAL_RATE_LIMIT_TYPE, { stat_prefix: 'mcp_rate_limit' }),
  };
}

/**
 * Seconds a refused agent waits for its next token. Envoy's buckets refill
 * continuously (`tokensPerFill` per `fillIntervalMs`, spread evenly), so the
 * next token comes after one interval's share.
 */
export function retryAfterSeconds(limit: EffectiveRateLimit): number {
  return Math.max(1, Math.ceil(limit.fillIntervalMs / limit.tokensPerFill / 1000));
}

function tokenBucket(limit: EffectiveRateLimit) {
  return {
    max_tokens: limit.maxTokens,
    tokens_per_fill: limit.tokensPerFill,
    fill_interval: `${limit.fillIntervalMs / 1000}s`,
  } as const;
}

const HUNDRED_PERCENT = { default_value: { numerator: 100, denominator: 'HUNDRED' } } as const;

/** The tool's name from the body (json_to_metadata), so a route for any tool still keeps a bucket per tool. */
const TOOL_FROM_BODY = {
  metadata: {
    descriptor_key: KEY.tool,
    metadata_key: { key: ROUTE_KEY_NAMESPACE, path: [{ key: 'name' }] },
    default_value: '-',
    source: 'DYNAMIC',
  },
} as const;

/**
 * Two descriptors, exactly one of which a request yields: the identity
 * header's value when present, else the client's address marked anonymous.
 */
const RATE_LIMIT_ACTIONS = [
  { actions: [{ request_headers: { header_name: AGENT_IDENTITY_HEADER, descriptor_key: KEY.agent } }, TOOL_FROM_BODY] },
  {
    actions: [
      {
        header_value_match: {
          descriptor_key: KEY.anonymous,
          descriptor_value: 'true',
          expect_match: false,
          headers: [{ name: AGENT_IDENTITY_HEADER, present_match: true }],
        },
      },
      { remote_address: {} },
      TOOL_FROM_BODY,
    ],
  },
] as const;

function statName(part: string): string {
  return part.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * The route's local rate limit: one bucket per (agent, tool) holding
 * `limit`. `tool` names the route's tool, or is undefined for a route that
 * serves any tool (the bucket still follows the body's tool name).
 */
export function routeRateLimit(server: string, tool: string | undefined, limit: EffectiveRateLimit): object {
  const bucket = tokenBucket(limit);
  const toolValue = tool ?? '';
  return typedStruct(LOCAL_RATE_LIMIT_TYPE, {
    stat_prefix: `mcp_rate_limit__${statName(server)}__${tool === undefined ? '_any' : statName(tool)}`,
    status: { code: 'TooManyRequests' },
    // Envoy requires a route's own default bucket; it is used only by a
    // request that yields no descriptor, which these actions never leave.
    token_bucket: bucket,
    always_consume_default_token_bucket: false,
    filter_enabled: HUNDRED_PERCENT,
    filter_enforced: HUNDRED_PERCENT,
    response_headers_to_add: [
      { header: { key: 'retry-after', value: String(retryAfterSeconds(limit)) }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ],
    rate_limits: RATE_LIMIT_ACTIONS,
    descriptors: [
      {
        entries: [
          { key: KEY.agent, value: '' },
          { key: KEY.tool, value: toolValue },
        ],
        token_bucket: bucket,
      },
      {
        entries: [
          { key: KEY.anonymous, value: 'true' },
          { key: KEY.address, value: '' },
          { key: KEY.tool, value: toolValue },
        ],
        token_bucket: bucket,
      },
    ],
    max_dynamic_descriptors: MAX_BUCKETS,
  });
}

/** A route's `typed_per_filter_config` for its limit; nothing when it has none. */
export function rateLimitRouteFields(server: string, tool: string | undefined, limit: EffectiveRateLimit | undefined): object {
  return limit === undefined ? {} : { typed_per_filter_config: { [RATE_LIMIT_FILTER]: routeRateLimit(server, tool, limit) } };
}

/**
 * The listener's local reply for a rate-limited request:
 * a JSON-RPC error with the request's id (null when the body had none) and
 * the route's Retry-After.
 */
export function rateLimitLocalReplyMapper(): object {
  return {
    // Envoy sets the RL response flag only after the local reply is made, so
    // the mapper matches the status: no other local reply of this listener is 429.
    filter: {
      status_code_filter: { comparison: { op: 'EQ', value: { default_value: 429, runtime_key: 'mcpmesh.rate_limit_status' } } },
    },
    body_format_override: {
      json_format: struct({
        jsonrpc: '2.0',
        id: `%DYNAMIC_METADATA(${ROUTE_KEY_NAMESPACE}:id)%`,
        error: {
          code: RATE_LIMITED_CODE,
          message: 'Too Many Requests: this agent has used its rate limit for this tool; retry after the Retry-After seconds',
          data: { reason: 'rate_limited', retryAfterSeconds: '%RESP(retry-after)%' },
        },
      }),
    },
  };
}
