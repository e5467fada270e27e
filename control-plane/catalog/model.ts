// The catalog model: the one immutable description of "which MCP servers exist,
// where their replicas are and how traffic to them behaves". Sources (file,
// Consul) produce SourceState; the catalog builder adds defaults and learned
// tools; Envoy resources are derived from the Catalog alone.

import type { ParamHeader } from '../../lib/mcp-param-headers.js';
import type { CatalogAuth } from './auth-resolution.js';
import type { EffectiveLoadBalancing } from './load-balancing.js';
import type { MeshSettings } from './mesh-schema.js';
import type { Policy, RetryOn, TlsPolicy } from './policy-schema.js';

export type ReplicaHealth = 'healthy' | 'degraded' | 'unhealthy' | 'draining';

export interface Replica {
  /** Stable id within its server (Consul service id, or host:port from the file). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly health: ReplicaHealth;
  /** Relative load-balancing weight, 1..128 as Envoy accepts. */
  readonly weight: number;
  /**
   * TLS servers only: the name the replica was given (a DNS name or an IP,
   * before resolving), which its certificate must carry and SNI names.
   */
  readonly tlsName?: string;
  /** Where the replica runs (control-plane/catalog/locality.ts); absent: the local datacenter, no zone. */
  readonly locality?: ReplicaLocality;
}

export interface ReplicaLocality {
  readonly datacenter?: string;
  readonly zone?: string;
}

/** Which MCP protocol generation a server speaks; 'auto' lets the client negotiate. */
export type McpProtocol = 'auto' | '2025' | '2026';

/** A server as a source describes it: no defaults filled in yet. */
export interface ServerSpec {
  /** Route and cluster name: /mcp/<name>. */
  readonly name: string;
  /** The server's own MCP endpoint path (Envoy rewrites /mcp/<name> to it). */
  readonly path: string;
  readonly protocol: McpProtocol;
  /** Upstream speaks HTTPS. */
  readonly tls: boolean;
  readonly replicas: readonly Replica[];
  /** Explicit policy from the source; empty object when none. */
  readonly policy: Policy;
  /** Replicas are mcpmesh adapters (they serve /metrics; Prometheus discovers them). */
  readonly adapter?: boolean;
}

/** Everything one source knows at one moment. */
export interface SourceState {
  readonly servers: ReadonlyMap<string, ServerSpec>;
  /** Mesh-wide settings (tracing, access log): the file's sections, or KV `mcpmesh/policy/_mesh`. */
  readonly mesh?: MeshSettings;
  /** Datacenters in order of preference, the local one first (Consul's --consul-datacenters, the file's `datacenter`). */
  readonly datacenters?: readonly string[];
}

/** What the control plane learned from a server's tools/list. */
export interface ToolInfo {
  readonly name: string;
  readonly readOnly: boolean;
  readonly idempotent: boolean;
  /** Its `x-mcp-header` declarations (lib/mcp-param-headers.ts), when it has any. */
  readonly params?: readonly ParamHeader[];
}

/** A resolved rule of a server's policy `paramRoutes` (catalog/param-route-resolution.ts). */
export interface ParamRoute {
  readonly tool: string;
  readonly param: ParamHeader;
  readonly value: string;
  /** The server whose replicas serve the calls, its cluster and endpoint path. */
  readonly server: string;
  readonly path: string;
  readonly timeoutMs: number | undefined;
  readonly retry: EffectiveRetry;
}

export interface EffectiveRetry {
  readonly retryOn: readonly RetryOn[];
  readonly attempts: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** A token bucket per agent: `tokensPerFill` tokens every `fillIntervalMs`, holding at most `maxTokens`. */
export interface EffectiveRateLimit {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** A tool's resolved traffic policy; one Envoy route each. */
export interface ToolRoute {
  readonly tool: string;
  /** Where the policy came from, for the admin API and logs. */
  readonly origin: 'explicit' | 'annotations';
  readonly idempotent: boolean;
  readonly timeoutMs: number | undefined;
  readonly retry: EffectiveRetry;
  /** The tool's balancing: its own, or the server's. */
  readonly loadBalancing: EffectiveLoadBalancing;
  /** Calls of this tool each agent may make; absent: unlimited. */
  readonly rateLimit?: EffectiveRateLimit;
}

export interface EffectivePolicy {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Bound for a tools/call of a tool without a route of its own; undefined = none. */
  readonly toolTimeoutMs: number | undefined;
  /** Retry for methods other than tools/call (initialize, the list methods, ping, reads). */
  readonly safeRetry: EffectiveRetry;
  /** Retry for tools/call of tools not known to be safe: only where the request never reached the server. */
  readonly unsafeRetry: EffectiveRetry;
  readonly outlier: {
    readonly consecutive5xx: number;
    readonly consecutiveGatewayFailure: number;
    readonly consecutiveLocalOriginFailure: number;
    readonly intervalMs: number;
    readonly baseEjectionTimeMs: number;
    readonly maxEjectionTimeMs: number;
    readonly maxEjectionPercent: number;
  };
  readonly circuitBreaker: {
    readonly maxConnections: number;
    readonly maxPendingRequests: number;
    readonly maxRequests: number;
    readonly retryBudgetPercent: number;
    readonly minRetryConcurrency: number;
  };
  /** Calls each agent may make of each tool without a limit of its own; absent: unlimited. */
  readonly rateLimit?: EffectiveRateLimit;
  /** A TLS server's verification settings from its policy (absent: the control plane's defaults). */
  readonly tls?: TlsPolicy;
  readonly loadBalancing: EffectiveLoadBalancing;
  readonly healthCheck:
    | {
        readonly path: string;
        readonly intervalMs: number;
        readonly timeoutMs: number;
        readonly unhealthyThreshold: number;
        readonly healthyThreshold: number;
      }
    | undefined;
}

export interface CatalogServer {
  readonly name: string;
  readonly path: string;
  readonly protocol: McpProtocol;
  readonly tls: boolean;
  /** Sorted by id, so equal catalogs translate to equal bytes. */
  readonly replicas: readonly Replica[];
  readonly policy: EffectivePolicy;
  /** Sorted by tool name. */
  readonly toolRoutes: readonly ToolRoute[];
  /** Who may call it: no token, a verified token (and rules), or refused. */
  readonly auth: CatalogAuth;
  /** Rules on verified Mcp-Param values, in policy order; only those whose tool declares the param and whose server exists. */
  readonly paramRoutes?: readonly ParamRoute[];
}

export interface Catalog {
  /** Sorted by name. */
  readonly servers: readonly CatalogServer[];
  /** Datacenters in order of preference, the local one first; absent or empty: one datacenter. */
  readonly datacenters?: readonly string[];
}
