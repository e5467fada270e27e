// mcpmesh adapter: one stdio MCP server as a pooled Streamable HTTP upstream.

import { runAdapter } from '../../adapter/adapter.js';
import { tuneHeapForServing } from '../../adapter/heap-tuning.js';
import { DEFAULT_MAX_JSON_CONTAINERS } from '../../adapter/http/streamable-http-server.js';
import { trustedProxyProblem } from '../../adapter/http/trusted-proxies.js';
import type { ClientAbility } from '../../adapter/options.js';
import { createLogger } from '../../lib/log.js';
import { SESSION_KEYS_ENV } from '../../lib/mesh-contracts.js';
import { boolFlag, durationFlag, type FlagSpecs, intFlag, type Parsed, parseFlags, stringFlag, UsageError, usage } from '../flags.js';
import { tracingSampling } from './percent-flags.js';

export const ADAPTER_FLAGS: FlagSpecs = {
  name: { type: 'string', description: 'server name: metrics label and Consul service name (required)' },
  port: { type: 'string', description: 'HTTP port; 0 picks a free one', default: '0' },
  host: { type: 'string', description: 'HTTP bind address', default: '127.0.0.1' },
  path: { type: 'string', description: 'MCP endpoint path', default: '/mcp' },
  pool: { type: 'string', description: 'server processes kept running (pool minimum)', default: '1' },
  'pool-max': { type: 'string', description: 'processes the pool may grow to under load (default: --pool)' },
  consul: { type: 'string', description: 'Consul HTTP address, e.g. http://127.0.0.1:8500: register this adapter there' },
  'advertise-address': {
    type: 'string',
    description: 'address registered in Consul (default: --host, or this host when binding all addresses)',
  },
  'service-id': { type: 'string', description: 'Consul service id (default: NAME-ADDRESS-PORT)' },
  'consul-token': { type: 'string', description: 'Consul ACL token' },
  'max-inflight': { type: 'string', description: 'calls in flight per process before calls queue', default: '64' },
  queue: { type: 'string', description: 'calls that may wait for a process; beyond: 503 retryable', default: '256' },
  'queue-timeout': { type: 'string', description: 'longest wait in the queue', default: '10s' },
  'call-timeout': { type: 'string', description: "the adapter's own per-call timeout (0s: none)", default: '5m' },
  'init-timeout': { type: 'string', description: 'time a process has to answer initialize', default: '10s' },
  'ping-interval': { type: 'string', description: 'health ping interval per process (0s: no pings)', default: '10s' },
  'ping-timeout': { type: 'string', description: 'time a process has to answer a ping', default: '5s' },
  'drain-timeout': {
    type: 'string',
    description:
      'on SIGTERM, the whole drain: new calls are served until they stop coming (at most half of it), calls in flight finish by its end',
    default: '10s',
  },
  'max-body': { type: 'string', description: 'largest request body in bytes (413 beyond)', default: String(4 * 1024 * 1024) },
  'allow-origin': { type: 'string', multiple: true, description: 'browser Origin allowed besides localhost ones ("*": any); repeatable' },
  'client-capabilities': {
    type: 'string',
    description: 'what the adapter declares to the server: sampling,elicitation,roots (or "none")',
    default: 'sampling,elicitation',
  },
  'session-idle': { type: 'string', description: 'a 2025-era session unused this long is closed', default: '30m' },
  'max-sessions': { type: 'string', description: 'open 2025-era sessions at most', default: '10000' },
  'max-sessions-per-client': {
    type: 'string',
    description: 'open 2025-era sessions of one client (its source address); beyond, initialize gets 429, not retried',
    default: '1000',
  },
  'max-sessions-per-source': {
    type: 'string',
    description: 'open 2025-era sessions from one source address (IPv6: its /64), whatever the clients',
    default: '4000',
  },
  'session-init-timeout': {
    type: 'string',
    description: 'a 2025-era session whose client sends nothing after initialize (notifications/initialized) this long expires',
    default: '10s',
  },
  'mrtr-hold-timeout': {
    type: 'string',
    description:
      "a 2026-07-28 client's call held on its process while the client answers an elicitation or sampling request (input_required) is released after this long without the client's retry",
    default: '60s',
  },
  'mrtr-max-holds': { type: 'string', description: 'calls held for a 2026-07-28 retry at once on this replica', default: '1024' },
  'max-listen-streams': { type: 'string', description: 'subscriptions/listen streams open at once on this replica', default: '1024' },
  'trusted-proxies': {
    type: 'string',
    multiple: true,
    description:
      "addresses or CIDR blocks of the proxies in front (Envoy), comma-separated or repeated: a request from one of them has X-Forwarded-For's last hop as its source (the agent's address the proxy appended); from any other peer, the peer",
  },
  'trust-forwarded-for': {
    type: 'boolean',
    description:
      'the old form of --trusted-proxies 0.0.0.0/0,::/0: every peer is a trusted proxy (only when nothing else reaches the adapter)',
  },
  'session-keys-file': {
    type: 'string',
    description:
      "key ring (JSON) that seals 2025-era session ids, shared by the server's replicas; watched, rotation needs no restart. Else MCPMESH_SESSION_KEYS holds the ring itself, else with --consul it is in KV mcpmesh/session-keys/NAME, else a key of this process only (sessions not portable)",
  },
  'session-store-dir': {
    type: 'string',
    description:
      'directory for session state (logging level, subscriptions) shared by replicas on this host; else Consul KV with --consul, else memory',
  },
  'pause-threshold': {
    type: 'string',
    description:
      'a pause of the adapter longer than this (SIGSTOP, a frozen VM, a blocked event loop) makes it check each 2025-era session with the shared store before serving it again, and give up those another replica took over',
    default: '1s',
  },
  'replay-events': {
    type: 'string',
    description: "messages kept per 2025-era session for a GET stream that reconnects with Last-Event-ID (in the session store's place)",
    default: '128',
  },
  'replay-bytes': {
    type: 'string',
    description: 'bytes of messages kept per session for reconnecting GET streams',
    default: String(256 * 1024),
  },
  'replay-age': { type: 'string', description: 'how long a message is kept for a reconnecting GET stream', default: '5m' },
  'replay-poll': {
    type: 'string',
    description: "how often an open GET stream reads a shared replay window for other replicas' messages",
    default: '250ms',
  },
  'sse-retry': { type: 'string', description: 'the retry: (reconnection delay) sent on SSE streams', default: '1s' },
  'sse-resume-grace': {
    type: 'string',
    description:
      "how long a 2025-era session call whose SSE answer dropped waits for its client's GET with Last-Event-ID before it is cancelled",
    default: '10s',
  },
  'session-lifetime': { type: 'string', description: 'how long a 2025-era session id is accepted after initialize', default: '24h' },
  cwd: { type: 'string', description: 'working directory of the server processes' },
  // ---- hostile input ----
  'max-line-bytes': {
    type: 'string',
    description: "longest stdout line of a server; a longer answer is refused as its request's fault (422)",
    default: String(64 * 1024 * 1024),
  },
  'max-json-depth': { type: 'string', description: 'deepest nesting of a request body (400 beyond)', default: '128' },
  'max-json-containers': {
    type: 'string',
    description: 'arrays and objects in a request body at most (400 beyond)',
    default: String(DEFAULT_MAX_JSON_CONTAINERS),
  },
  'max-inflight-per-client': {
    type: 'string',
    description: 'calls on processes from one client address, more wait in the queue (0: 3/4 of pool-max × max-inflight)',
    default: '0',
  },
  'max-inflight-per-connection': { type: 'string', description: 'calls in flight on one connection (pipelining)', default: '8' },
  // ---- tracing ----
  'tracing-collector': {
    type: 'string',
    description: 'OTLP/HTTP trace collector, e.g. http://127.0.0.1:4318: a span per call (tracing is off without one)',
  },
  'tracing-sampling': {
    type: 'string',
    description: 'percent of calls without a traceparent that start a trace here (0: only calls a sampled parent sent)',
    default: '0',
  },
  'tracing-service-name': { type: 'string', description: 'service.name of the spans (default: mcpmesh-adapter)' },
  // ---- TLS (mTLS from Envoy) ----
  'tls-cert': { type: 'string', description: 'serve HTTPS with this certificate (PEM); reloaded when the file changes' },
  'tls-key': { type: 'string', description: 'the private key of --tls-cert' },
  'tls-client-ca': { type: 'string', description: "CA bundle clients' certificates must chain to: a connection without one is refused" },
  'tls-mcp-client-uri': {
    type: 'string',
    description:
      'MCP requests only from client certificates with a URI SAN starting with this (e.g. spiffe://mcpmesh/envoy/); /metrics and the probes from any certificate of --tls-client-ca',
  },
  'health-port': {
    type: 'string',
    description: "with TLS: plain HTTP /healthz and /readyz on this port for Consul's check (0: a free one)",
    default: '0',
  },
  'health-address': { type: 'string', description: 'bind address of --health-port', default: '127.0.0.1' },
};

function tlsFlags(p: Parsed): {
  tls?: { certFile: string; keyFile: string; clientCaFile: string; mcpClientUriPrefix?: string };
  healthPort: number;
  healthHost: string;
} {
  const certFile = stringFlag(p, 'tls-cert');
  const keyFile = stringFlag(p, 'tls-key');
  const clientCaFile = stringFlag(p, 'tls-client-ca');
  const health = { healthPort: intFlag(p, 'health-port', 0, 65535)!, healthHost: stringFlag(p, 'health-address')! };
  const mcpClientUriPrefix = stringFlag(p, 'tls-mcp-client-uri');
  if (certFile === undefined && keyFile === undefined && clientCaFile === undefined) {
    if (mcpClientUriPrefix !== undefined) throw new UsageError('--tls-mcp-client-uri needs --tls-cert, --tls-key and --tls-client-ca');
    return health;
  }
  if (certFile === undefined || keyFile === undefined || clientCaFile === undefined)
    throw new UsageError('--tls-cert, --tls-key and --tls-client-ca go together');
  return { tls: { certFile, keyFile, clientCaFile, ...(mcpClientUriPrefix !== undefined ? { mcpClientUriPrefix } : {}) }, ...health };
}

const SUMMARY =
  'Runs a stdio MCP server as a pool of processes behind one Streamable HTTP endpoint that serves both\n' +
  'the 2026-07-28 (stateless) and the 2025-era (session) protocol, with /healthz, /readyz and /metrics.';

function abilitiesFlag(p: Parsed): ClientAbility[] {
  const v = stringFlag(p, 'client-capabilities')!.trim();
  if (v === '' || v === 'none') return [];
  const out: ClientAbility[] = [];
  for (const part of v.split(',').map((s) => s.trim())) {
    if (part !== 'sampling' && part !== 'elicitation' && part !== 'roots')
      throw new UsageError(`--client-capabilities: unknown capability "${part}" (sampling, elicitation, roots or none)`);
    out.push(part);
  }
  return out;
}

/** --trusted-proxies: repeatable, each value a comma-separated list; each entry checked where it enters. */
function proxiesFlag(p: Parsed, name: string): string[] {
  const v = p.values[name];
  const given = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  const entries = given
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const e of entries) {
    const problem = trustedProxyProblem(e);
    if (problem !== undefined) throw new UsageError(`--${name}: ${problem}`);
  }
  return entries;
}

/** The adapter's tracing: off without a collector; the sampling percent is read as the control plane reads it. */
export function tracingFlags(p: Parsed): { tracing?: { collector: string; sampling: number; serviceName?: string } } {
  const sampling = tracingSampling(p) ?? 0;
  const collector = stringFlag(p, 'tracing-collector');
  if (collector === undefined || collector === '') return {};
  const serviceName = stringFlag(p, 'tracing-service-name');
  return { tracing: { collector, sampling, ...(serviceName !== undefined ? { serviceName } : {}) } };
}

export async function adapterCommand(argv: string[]): Promise<number> {
  const p = parseFlags(argv, ADAPTER_FLAGS);
  if (p.help) {
    process.stdout.write(usage('adapter', SUMMARY, ADAPTER_FLAGS, ' --name NAME [options] -- COMMAND [ARGS...]'));
    return 0;
  }
  const name = stringFlag(p, 'name');
  if (name === undefined) throw new UsageError('--name is required');
  const [command, ...args] = p.rest;
  if (command === undefined) throw new UsageError('the server command is missing: mcpmesh adapter --name NAME -- COMMAND [ARGS...]');
  tuneHeapForServing();
  const poolMin = intFlag(p, 'pool', 1, 256)!;
  const poolMax = intFlag(p, 'pool-max', 1, 256);
  if (poolMax !== undefined && poolMax < poolMin) throw new UsageError(`--pool-max (${poolMax}) must be at least --pool (${poolMin})`);
  const consul = stringFlag(p, 'consul');
  const advertise = stringFlag(p, 'advertise-address');
  const serviceId = stringFlag(p, 'service-id');
  const token = stringFlag(p, 'consul-token');
  const cwd = stringFlag(p, 'cwd');
  const origins = p.values['allow-origin'];
  const keysFile = stringFlag(p, 'session-keys-file');
  const storeDir = stringFlag(p, 'session-store-dir');
  const keysJson = process.env[SESSION_KEYS_ENV];
  const logger = createLogger('adapter');

  const handle = await runAdapter({
    name,
    command,
    args,
    ...(cwd !== undefined ? { cwd } : {}),
    host: stringFlag(p, 'host')!,
    port: intFlag(p, 'port', 0, 65535)!,
    path: stringFlag(p, 'path')!,
    poolMin,
    ...(poolMax !== undefined ? { poolMax } : {}),
    maxInFlightPerProcess: intFlag(p, 'max-inflight', 1, 100_000)!,
    maxQueue: intFlag(p, 'queue', 0, 1_000_000)!,
    queueTimeoutMs: Math.max(1, durationFlag(p, 'queue-timeout')),
    callTimeoutMs: durationFlag(p, 'call-timeout'),
    initTimeoutMs: Math.max(1, durationFlag(p, 'init-timeout')),
    pingIntervalMs: durationFlag(p, 'ping-interval'),
    pingTimeoutMs: Math.max(1, durationFlag(p, 'ping-timeout')),
    drainTimeoutMs: durationFlag(p, 'drain-timeout'),
    maxBodyBytes: intFlag(p, 'max-body', 1, 1024 * 1024 * 1024)!,
    allowedOrigins: Array.isArray(origins) ? origins : [],
    clientCapabilities: abilitiesFlag(p),
    sessionIdleMs: Math.max(1, durationFlag(p, 'session-idle')),
    maxSessions: intFlag(p, 'max-sessions', 1, 10_000_000)!,
    maxSessionsPerClient: intFlag(p, 'max-sessions-per-client', 1, 10_000_000)!,
    maxSessionsPerSource: intFlag(p, 'max-sessions-per-source', 1, 10_000_000)!,
    sessionInitTimeoutMs: Math.max(1, durationFlag(p, 'session-init-timeout')),
    mrtrHoldTimeoutMs: Math.max(1, durationFlag(p, 'mrtr-hold-timeout')),
    mrtrMaxHolds: intFlag(p, 'mrtr-max-holds', 1, 1_000_000)!,
    maxListenStreams: intFlag(p, 'max-listen-streams', 1, 1_000_000)!,
    trustForwardedFor: boolFlag(p, 'trust-forwarded-for'),
    trustedProxies: proxiesFlag(p, 'trusted-proxies'),
    maxLineBytes: intFlag(p, 'max-line-bytes', 1024, 1024 * 1024 * 1024)!,
    maxJsonDepth: intFlag(p, 'max-json-depth', 2, 10_000)!,
    maxJsonContainers: intFlag(p, 'max-json-containers', 1, 10_000_000)!,
    maxInFlightPerClient: intFlag(p, 'max-inflight-per-client', 0, 1_000_000)!,
    maxInFlightPerConnection: intFlag(p, 'max-inflight-per-connection', 1, 100_000)!,
    ...(keysFile !== undefined ? { sessionKeysFile: keysFile } : {}),
    ...(keysJson !== undefined && keysJson.trim() !== '' ? { sessionKeys: keysJson } : {}),
    ...(storeDir !== undefined ? { sessionStoreDir: storeDir } : {}),
    sessionLifetimeMs: Math.max(1, durationFlag(p, 'session-lifetime')),
    pauseThresholdMs: Math.max(1, durationFlag(p, 'pause-threshold')),
    replay: {
      maxEvents: intFlag(p, 'replay-events', 1, 100_000)!,
      maxBytes: intFlag(p, 'replay-bytes', 1024, 256 * 1024 * 1024)!,
      maxAgeMs: Math.max(1, durationFlag(p, 'replay-age')),
      pollMs: Math.max(1, durationFlag(p, 'replay-poll')),
      retryMs: Math.min(600_000, durationFlag(p, 'sse-retry')),
      resumeGraceMs: Math.max(1, durationFlag(p, 'sse-resume-grace')),
    },
    ...tlsFlags(p),
    ...(consul !== undefined
      ? {
          consul: {
            url: consul,
            ...(advertise !== undefined ? { advertiseAddress: advertise } : {}),
            ...(serviceId !== undefined ? { serviceId } : {}),
            ...(token !== undefined ? { token } : {}),
          },
        }
      : {}),
    ...tracingFlags(p),
    logger,
  });
  process.stdout.write(`mcpmesh adapter "${name}" listening on ${handle.url}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const first = (sig: NodeJS.Signals) => {
      process.off('SIGINT', first);
      process.off('SIGTERM', first);
      // A second signal means "now": the exit hook SIGKILLs every process group.
      const again = (s2: NodeJS.Signals) => {
        logger.warn({ signal: s2 }, 'second signal: stopping at once');
        process.exit(1);
      };
      process.on('SIGINT', again);
      process.on('SIGTERM', again);
      resolve(sig);
    };
    process.on('SIGINT', first);
    process.on('SIGTERM', first);
  });
  logger.info({ signal }, 'shutting down');
  await handle.shutdown();
  return 0;
}
