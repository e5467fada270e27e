// The conventions the adapter, the control plane, the CLI and operators'
// scripts must agree on. Each is written here once: a rule that both sides
// check separately drifts (the adapter once accepted server names the
// control plane then dropped). docs/architecture.md lists them for users.
import { z } from 'zod';

/** Ports the CLI, the bootstrap, the config file and docker-compose default to. */
export const DEFAULT_PORTS = {
  envoyEgress: 10000,
  envoyAdmin: 9901,
  /** Envoy's Prometheus stats alone, for scrapers that must not reach the admin endpoint. */
  envoyStats: 9902,
  xds: 18000,
  adminApi: 9900,
} as const;

/**
 * The bootstrap's cluster to the control plane: ADS, and the list filter's
 * gRPC service (ext_proc) on the same port.
 */
export const XDS_CLUSTER = 'mcpmesh_xds';

/** First port `mcpmesh up` gives adapters of stdio servers that name none. */
export const DEFAULT_ADAPTER_BASE_PORT = 17100;

/**
 * An MCP server's name: a Consul service name, an Envoy cluster name, a
 * metric label and the `/mcp/NAME` path segment all at once, so it is held to
 * what every one of them accepts (DNS-label-like, lower case).
 */
export const SERVER_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
export const SERVER_NAME_RULE = 'server names are 1-63 of a-z 0-9 _ . - and start with a letter or digit';
export const ServerNameSchema = z.string().regex(SERVER_NAME, SERVER_NAME_RULE);

/** A server's MCP endpoint path: visible ASCII, so it is safe in Envoy route config and Consul meta. */
export const MCP_PATH = /^\/[\x21-\x7e]*$/;
export const MCP_PATH_RULE = 'a path starting with / of visible ASCII characters';
export const DEFAULT_MCP_PATH = '/mcp';
export const McpPathSchema = z.string().max(1024).regex(MCP_PATH, MCP_PATH_RULE);

/** The path agents use for a server at Envoy's listener. */
export function agentPath(server: string): string {
  return `/mcp/${server}`;
}

/**
 * Set to `true` by the adapter on a 503 that may be replayed on another
 * replica (the call never reached a process, or is replay-safe); Envoy's
 * routes retry on it.
 */
export const RETRYABLE_HEADER = 'x-mcpmesh-retryable';

/**
 * Who the agent is: the `sub` claim of a token Envoy's listener verified.
 * Only the mesh sets it; the listener removes every incoming header whose
 * name starts with AGENT_IDENTITY_HEADER before any other filter runs, so a
 * client cannot inject it. Absent when the route requires no token. Envoy's
 * access log, the adapter's spans and rate-limit descriptors read it.
 */
export const AGENT_IDENTITY_HEADER = 'x-mcpmesh-agent';

/**
 * Prefix of the headers carrying other verified claims a policy names:
 * `x-mcpmesh-claim-<claim>` (claim name lower-cased, characters outside
 * a-z 0-9 - replaced by `-`). Removed from incoming requests like
 * AGENT_IDENTITY_HEADER, so only the mesh sets them.
 */
export const AGENT_CLAIM_HEADER_PREFIX = 'x-mcpmesh-claim-';

/** The header that carries a verified claim other than `sub`. */
export function agentClaimHeader(claim: string): string {
  return `${AGENT_CLAIM_HEADER_PREFIX}${claim.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`;
}

/**
 * Every incoming header whose name starts with one of these is removed at
 * Envoy's listener before anything else reads the request.
 */
export const MESH_IDENTITY_HEADER_PREFIXES = [AGENT_IDENTITY_HEADER, AGENT_CLAIM_HEADER_PREFIX] as const;

/**
 * The `traceparent` Envoy sends upstream with a request it does not trace and
 * that came without a context (control-plane/envoy/trace-split.ts): valid and
 * not sampled, so an adapter follows "not sampled". Its ids name no span: an
 * adapter links no span to it.
 */
export const UNTRACED_TRACEPARENT = '00-00000000000000000000000000000001-0000000000000001-00';

/** Protocol generation a server speaks, as the file, Consul meta and the adapter name it. */
export const PROTOCOL_GENERATIONS = ['auto', '2025', '2026'] as const;
export type ProtocolGeneration = (typeof PROTOCOL_GENERATIONS)[number];

/** The stateless revision of MCP. */
export const MODERN_VERSION = '2026-07-28';
/** 2025-era (session) revisions, newest first: the adapter speaks these to stdio servers. */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;

/** MCP logging levels (RFC 5424 severities), least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Consul conventions: how a service says it is an MCP server, and where its policy lives. */
export const CONSUL = {
  /** Tag that marks a Consul service as an MCP server. */
  tag: 'mcp',
  /** KV prefix of per-service policies: `mcpmesh/policy/<service>` holds JSON. */
  policyPrefix: 'mcpmesh/policy/',
  /**
   * Mesh-wide settings (tracing, access log) as JSON, under the policy prefix
   * so the policy watch sees them (no connection of its own); `_` starts no
   * server name.
   */
  meshKey: 'mcpmesh/policy/_mesh',
  meta: {
    path: 'mcp_path',
    protocol: 'mcp_protocol',
    tls: 'mcp_tls',
    adapter: 'mcpmesh_adapter',
    /** The replica's zone: service meta, else the node's meta of the same key. */
    zone: 'mcp_zone',
  },
} as const;

/**
 * The tracing sampling percent (`--tracing-sampling`): the control plane's
 * for Envoy and the adapter's for calls with no trace context, read by both
 * with one parser (lib/percent.ts). `mcpmesh up` hands it to its adapters.
 */
export const TRACING_SAMPLING_ENV = 'MCPMESH_TRACING_SAMPLING';

/**
 * Portable 2025-era sessions (adapter/sessions/): where the key ring that
 * seals a server's session ids comes from, and where the sessions' mutable
 * state lives in Consul.
 */
/** Environment variable holding a key ring as JSON (the adapter's second key source, after a file). */
export const SESSION_KEYS_ENV = 'MCPMESH_SESSION_KEYS';
/** Consul KV: `mcpmesh/session-keys/<server>` holds the server's key ring as JSON. */
export const SESSION_KEYS_KV_PREFIX = 'mcpmesh/session-keys/';
/** Consul KV: `mcpmesh/sessions/<server>/<sessionKey>` holds one session's state. */
export const SESSION_STATE_KV_PREFIX = 'mcpmesh/sessions/';
/** Consul KV prefix of the sessions' GET-stream replay windows: `mcpmesh/events/<server>/<sessionKey>`. */
export const EVENT_WINDOW_KV_PREFIX = 'mcpmesh/events/';

/**
 * The URI SAN that names an Envoy node in its client certificate: with xDS
 * over TLS the control plane serves a stream only if the certificate names
 * the node id the stream announces (this URI, a DNS SAN or the subject CN).
 */
export function envoyNodeUri(nodeId: string): string {
  return `${ENVOY_NODE_URI_PREFIX}${encodeURIComponent(nodeId)}`;
}

/** What every Envoy's URI SAN starts with: adapters may take MCP requests from these certificates alone. */
export const ENVOY_NODE_URI_PREFIX = 'spiffe://mcpmesh/envoy/';
