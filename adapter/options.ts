// The adapter's options: validated once where they enter (runAdapter), with
// every default in one place.
import { z } from 'zod';
import { type BackoffPolicy, DEFAULT_BACKOFF } from '../lib/backoff.js';
import type { Logger } from '../lib/log.js';
import { DEFAULT_MCP_PATH, McpPathSchema, ServerNameSchema } from '../lib/mesh-contracts.js';
import { DEFAULT_MAX_JSON_CONTAINERS } from './http/streamable-http-server.js';
import { trustedProxyProblem } from './http/trusted-proxies.js';

const ABILITIES = ['sampling', 'elicitation', 'roots'] as const;
export type ClientAbility = (typeof ABILITIES)[number];

const ms = z.number().int().min(0);
const positiveMs = z.number().int().min(1);

export const AdapterOptionsSchema = z
  .object({
    /** Service name of the server (metrics label, Consul service). */
    name: ServerNameSchema,
    command: z.string().min(1, 'command: the stdio server command is required'),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).optional(),
    cwd: z.string().optional(),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(0),
    path: McpPathSchema.default(DEFAULT_MCP_PATH),
    poolMin: z.number().int().min(1).max(256).default(1),
    poolMax: z.number().int().min(1).max(256).optional(),
    maxInFlightPerProcess: z.number().int().min(1).max(100_000).default(64),
    maxQueue: z.number().int().min(0).max(1_000_000).default(256),
    queueTimeoutMs: positiveMs.default(10_000),
    /** 0 disables the adapter's own call timeout. */
    callTimeoutMs: ms.default(300_000),
    initTimeoutMs: positiveMs.default(10_000),
    /** 0 disables pings. */
    pingIntervalMs: ms.default(10_000),
    pingTimeoutMs: positiveMs.default(5_000),
    pingMisses: z.number().int().min(1).default(2),
    drainTimeoutMs: ms.default(10_000),
    stopGraceMs: ms.default(2_000),
    maxBodyBytes: z
      .number()
      .int()
      .min(1)
      .default(4 * 1024 * 1024),
    maxLineBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    allowedOrigins: z.array(z.string()).default([]),
    clientCapabilities: z.array(z.enum(ABILITIES)).default(['sampling', 'elicitation']),
    sessionIdleMs: positiveMs.default(30 * 60_000),
    maxSessions: z.number().int().min(1).default(10_000),
    /** Sessions open on this replica for one client (a verified identity, else its source address). */
    maxSessionsPerClient: z.number().int().min(1).default(1_000),
    /** Sessions open on this replica from one source address (an IPv6 /64), whatever the clients. */
    maxSessionsPerSource: z.number().int().min(1).default(4_000),
    /** A session whose client sends nothing after initialize (notifications/initialized) for this long expires. */
    sessionInitTimeoutMs: positiveMs.default(10_000),
    /**
     * Peers (addresses, CIDR blocks) whose X-Forwarded-For last hop is the
     * request's source: the proxies in front (Envoy appends the agent's address).
     */
    trustedProxies: z
      .array(z.string())
      .default([])
      .superRefine((list, ctx) => {
        for (const entry of list) {
          const problem = trustedProxyProblem(entry);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }
      }),
    /** The old on/off form: every peer is a trusted proxy (one hop), as `trustedProxies: ['0.0.0.0/0', '::/0']`. */
    trustForwardedFor: z.boolean().default(false),
    /** Key ring file shared by the server's replicas (watched; rotation needs no restart). */
    sessionKeysFile: z.string().min(1).optional(),
    /** A key ring as JSON (the CLI passes MCPMESH_SESSION_KEYS); used when there is no file. */
    sessionKeys: z.string().optional(),
    /** Directory of session state shared by replicas on this host (`<dir>/<server>/`). */
    sessionStoreDir: z.string().min(1).optional(),
    /**
     * A pause of the adapter longer than this (SIGSTOP, a frozen VM, a blocked
     * event loop) makes it check every session it holds with the shared store
     * before serving it again: it may have moved to another replica meanwhile.
     */
    pauseThresholdMs: positiveMs.default(1_000),
    /** How long a session id is accepted after initialize. */
    sessionLifetimeMs: positiveMs.default(24 * 60 * 60_000),
    /** A 2026-07-28 call held for its client's multi round-trip retry is released after this long (docs/adapter.md). */
    mrtrHoldTimeoutMs: positiveMs.default(60_000),
    /** Calls held for a multi round-trip retry at once on this replica. */
    mrtrMaxHolds: z.number().int().min(1).max(1_000_000).default(1_024),
    /** subscriptions/listen streams open at once on this replica. */
    maxListenStreams: z.number().int().min(1).max(1_000_000).default(1_024),
    /** The GET stream's replay window per session (docs/adapter.md, Resuming a stream): events, bytes, age. */
    replay: z
      .object({
        maxEvents: z.number().int().min(1).max(100_000).default(128),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .max(256 * 1024 * 1024)
          .default(256 * 1024),
        maxAgeMs: positiveMs.default(5 * 60_000),
        /** The `retry:` the adapter's SSE streams send. */
        retryMs: z.number().int().min(0).max(600_000).default(1_000),
        /** How often an open GET stream reads a shared window for other replicas' messages. */
        pollMs: positiveMs.default(250),
        /** How long a session call whose SSE answer dropped waits for its client to resume it. */
        resumeGraceMs: positiveMs.default(10_000),
      })
      .prefault({}),
    idleStopMs: positiveMs.default(60_000),
    keepAliveMs: positiveMs.default(25_000),
    backoff: z.object({ baseMs: positiveMs, maxMs: positiveMs, jitter: z.number().min(0).max(1) }).default(DEFAULT_BACKOFF),
    stableAfterMs: positiveMs.default(30_000),
    // ---- hostile input (see docs/adapter.md, Limits) ----
    /** Deepest nesting of arrays and objects in a request body (400 beyond). */
    maxJsonDepth: z.number().int().min(2).max(10_000).default(128),
    /** Arrays and objects in a request body at most (400 beyond). */
    maxJsonContainers: z.number().int().min(1).max(10_000_000).default(DEFAULT_MAX_JSON_CONTAINERS),
    /** Calls on processes from one client (a verified identity, else its source: see trustedProxies; more wait in the queue); 0: ¾ of poolMax × maxInFlightPerProcess. */
    maxInFlightPerClient: z.number().int().min(0).max(1_000_000).default(0),
    /** Calls in flight on one connection (HTTP/1.1 pipelining). */
    maxInFlightPerConnection: z.number().int().min(1).max(100_000).default(8),
    // ---- tracing (adapter/tracing.ts); absent: off ----
    tracing: z
      .object({
        collector: z.string().url('tracing.collector must be a URL such as http://127.0.0.1:4318'),
        sampling: z.number().min(0).max(100).default(0),
        serviceName: z.string().min(1).default('mcpmesh-adapter'),
        exportDelayMs: z.number().int().min(1).optional(),
      })
      .optional(),
    consul: z
      .object({
        url: z.string().url('consul.url must be a URL such as http://127.0.0.1:8500'),
        advertiseAddress: z.string().min(1).optional(),
        serviceId: z.string().min(1).optional(),
        token: z.string().min(1).optional(),
      })
      .optional(),
    // ---- TLS: mTLS from Envoy (docs/adapter.md, TLS) ----
    tls: z
      .object({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        clientCaFile: z.string().min(1),
        /** MCP only from client certificates with a URI SAN starting so (Envoy's); other paths from any of the CA. */
        mcpClientUriPrefix: z.string().min(1).max(1024).optional(),
      })
      .optional(),
    /** With TLS: plain /healthz and /readyz on this port for Consul's check (0: a free one). */
    healthPort: z.number().int().min(0).max(65535).default(0),
    healthHost: z.string().min(1).default('127.0.0.1'),
  })
  .refine((o) => o.poolMax === undefined || o.poolMax >= o.poolMin, { message: 'poolMax must be at least poolMin', path: ['poolMax'] });

export type AdapterOptionsInput = z.input<typeof AdapterOptionsSchema> & { readonly logger?: Logger };
export type ResolvedOptions = z.output<typeof AdapterOptionsSchema> & { readonly backoff: BackoffPolicy };

/** Validated options with defaults; throws an Error naming every problem. */
export function resolveOptions(input: z.input<typeof AdapterOptionsSchema>): ResolvedOptions {
  const parsed = AdapterOptionsSchema.safeParse(input);
  if (!parsed.success)
    throw new Error(
      `invalid adapter options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** The capabilities the adapter declares to each process it initializes. */
export function declaredCapabilities(abilities: readonly ClientAbility[]): Record<string, unknown> {
  const caps: Record<string, unknown> = {};
  for (const a of abilities) caps[a] = a === 'roots' ? { listChanged: true } : {};
  return caps;
}
