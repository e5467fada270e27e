// Wires the adapter together: process pool, session and server-message
// routing, the HTTP endpoint, metrics and Consul self-registration; and the
// graceful shutdown order (not ready → deregistered → new calls served until
// clients stop sending → new calls refused, calls finished or deadline →
// processes stopped → HTTP closed).
import { randomBytes } from 'node:crypto';
import { urlHost } from '../lib/host-port.js';
import { componentLogger, createLogger, type Logger, loggableCommand } from '../lib/log.js';
import { SESSION_KEYS_KV_PREFIX } from '../lib/mesh-contracts.js';
import { registerSelf, type SelfRegistration } from './consul-self-registration.js';
import { clientOrigin, proxiedAgentIdentity } from './http/client-origin.js';
import { SessionEvents } from './http/event-replay.js';
import { McpEndpoint } from './http/mcp-endpoint.js';
import { PostStreams } from './http/post-stream-resume.js';
import { startHttpServer } from './http/streamable-http-server.js';
import { ANY_PEER, trustedProxies } from './http/trusted-proxies.js';
import { type AdapterMetrics, createAdapterMetrics } from './metrics.js';
import { createModernBridgeMetrics } from './modern/modern-bridge-metrics.js';
import { MrtrBridge } from './modern/mrtr-bridge.js';
import { MrtrStateCodec } from './modern/mrtr-state-codec.js';
import { ListenRegistry } from './modern/subscriptions-listen.js';
import { type AdapterOptionsInput, declaredCapabilities, resolveOptions } from './options.js';
import { CrashReplay } from './pool/crash-replay.js';
import { McpWorker } from './pool/mcp-worker.js';
import { OomKills } from './pool/oom-kills.js';
import type { WorkerHost } from './pool/pool-worker.js';
import { ProcessPool } from './pool/process-pool.js';
import { QueryOfDeathRegistry } from './pool/query-of-death.js';
import { EventIds } from './sessions/event-window-store.js';
import { ServerMessageRouter } from './sessions/server-message-router.js';
import type { Session } from './sessions/session.js';
import { SessionHandover } from './sessions/session-handover.js';
import { SessionIdCodec } from './sessions/session-id-codec.js';
import { SessionKeeper } from './sessions/session-keeper.js';
import { SessionLimiter } from './sessions/session-limits.js';
import { recheckAfterPauses } from './sessions/session-recheck.js';
import { openSessionSources } from './sessions/session-sources.js';
import { SessionTable } from './sessions/session-table.js';
import { ToolCatalog } from './tool-catalog.js';
import { CallTracer } from './tracing.js';

export type AdapterOptions = AdapterOptionsInput;

export interface AdapterHandle {
  /** The MCP endpoint, e.g. http://127.0.0.1:17100/mcp. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly metrics: AdapterMetrics;
  /** Consul service id, when registered. */
  readonly consulServiceId: string | undefined;
  /** With TLS: the plain port serving /healthz and /readyz. */
  readonly healthPort: number | undefined;
  ready(): boolean;
  /** Resolves once a server process is ready. */
  whenReady(): Promise<void>;
  /** Process group ids (= pids) of the server processes alive now. */
  processIds(): number[];
  /** Graceful stop: not ready, deregister, finish calls up to the drain deadline, stop processes. */
  shutdown(): Promise<void>;
}

const VERSION = '0.1.0';

/**
 * After SIGTERM the adapter keeps serving new calls until none has come for
 * this long: a load balancer goes on sending until its health check or
 * service discovery notices, and a call refused then costs a retry that
 * least-request balancing may send straight back here (a replica that
 * answers at once looks least busy).
 */
const DRAIN_QUIET_MS = 1_000;

export async function runAdapter(options: AdapterOptions): Promise<AdapterHandle> {
  const { logger: givenLogger, ...rest } = options;
  const o = resolveOptions(rest);
  const logger: Logger = (givenLogger ?? createLogger('adapter')).child({ server: o.name });
  const metrics = createAdapterMetrics(o.name);
  // Keys and state that let another replica carry a session on (session-sources.ts).
  const keysFromConsul = o.consul !== undefined && o.sessionKeysFile === undefined && (o.sessionKeys ?? '').trim() === '';
  const sources = await openSessionSources({
    server: o.name,
    keysFile: o.sessionKeysFile,
    keysJson: o.sessionKeys,
    storeDir: o.sessionStoreDir,
    consul: o.consul === undefined ? undefined : { url: o.consul.url, token: o.consul.token },
    logger,
    replayBounds: { maxEvents: o.replay.maxEvents, maxBytes: o.replay.maxBytes, maxAgeMs: o.replay.maxAgeMs },
  }).catch((err: unknown) => {
    // With --consul the server's session key ring is part of its registration there.
    if (keysFromConsul)
      throw new Error(
        `could not register in Consul at ${o.consul!.url}: the session key ring (KV ${SESSION_KEYS_KV_PREFIX}${o.name}): ${(err as Error).message}`,
      );
    throw err;
  });
  const codec = new SessionIdCodec({ server: o.name, keys: sources.keys, lifetimeMs: o.sessionLifetimeMs });
  const sessions = new SessionTable();
  const tools = new ToolCatalog(logger, o.initTimeoutMs);
  const router = new ServerMessageRouter({
    sessions,
    metrics,
    logger,
    toolsChanged: (w) => tools.invalidate(w),
    holderOf: (w) => pool.holderOf(w),
    soloAsked: (w, serverIdJson, msg) => {
      const call = pool.soloCallOf(w);
      return call !== undefined && mrtr.serverAsked(call, w, serverIdJson, msg);
    },
    changed: (w, msg) => listen.notify(w, msg),
  });
  const capabilities = declaredCapabilities(o.clientCapabilities);

  const poison = new QueryOfDeathRegistry();
  const oomKills = new OomKills();
  let keeper: SessionKeeper | undefined;
  // The pool's processes, and the quarantine processes that replay a crash's suspects (pool/crash-replay.ts).
  const workerFor = (slot: number, host: WorkerHost<McpWorker>): McpWorker =>
    new McpWorker({
      slot,
      command: o.command,
      args: o.args,
      ...(o.env !== undefined ? { env: { ...process.env, ...o.env } } : {}),
      ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
      clientCapabilities: capabilities,
      clientInfo: { name: 'mcpmesh-adapter', version: VERSION },
      initTimeoutMs: o.initTimeoutMs,
      pingIntervalMs: o.pingIntervalMs,
      pingTimeoutMs: o.pingTimeoutMs,
      pingMisses: o.pingMisses,
      maxLineBytes: o.maxLineBytes,
      poison,
      replay: (from, calls, fallback) => replays.take(from, calls, fallback),
      oomKills,
      logger,
      metrics,
      host,
    });
  const replays = new CrashReplay<McpWorker>({
    createWorker: workerFor,
    logger: componentLogger(logger, 'crash-replay'),
    replayed: (result) => metrics.crashReplayed(result),
    stopGraceMs: o.stopGraceMs,
  });
  const pool: ProcessPool<McpWorker, Session> = new ProcessPool<McpWorker, Session>(
    {
      min: o.poolMin,
      max: o.poolMax ?? o.poolMin,
      maxInFlightPerProcess: o.maxInFlightPerProcess,
      maxQueue: o.maxQueue,
      queueTimeoutMs: o.queueTimeoutMs,
      idleStopMs: o.idleStopMs,
      stopGraceMs: o.stopGraceMs,
      backoff: o.backoff,
      stableAfterMs: o.stableAfterMs,
      maxInFlightPerClient:
        o.maxInFlightPerClient > 0
          ? o.maxInFlightPerClient
          : Math.max(1, Math.floor(((o.poolMax ?? o.poolMin) * o.maxInFlightPerProcess * 3) / 4)),
    },
    {
      logger,
      metrics,
      createWorker: workerFor,
      serverRequest: (w, line, msg) => router.serverRequest(w, line, msg),
      serverNotification: (w, line, msg) => router.serverNotification(w, line, msg),
      workerReady: (w) => {
        tools.refreshFrom(w);
        keeper?.replay(w);
        listen.workerReady(w);
      },
      workerGone: (w) => router.workerGone(w),
      pinned: (slot) => sessions.countPinned(slot),
      poison,
    },
  );
  // What an unauthenticated initialize may cost (docs/adapter.md, Limits).
  const limiter = new SessionLimiter({
    maxSessions: o.maxSessions,
    perClient: o.maxSessionsPerClient,
    perSource: o.maxSessionsPerSource,
    initTimeoutMs: o.sessionInitTimeoutMs,
  });
  keeper = new SessionKeeper({
    sessions,
    pool,
    router,
    logger,
    idleMs: o.sessionIdleMs,
    requestTimeoutMs: o.initTimeoutMs,
    limiter,
    pendingSweepMs: Math.max(50, Math.min(1_000, Math.floor(o.sessionInitTimeoutMs / 4))),
    expired: (n) => metrics.sessionsExpired(n),
    listened: (uri) => listen.listens(uri),
  });
  // Names this replica in the session records it writes: one paused meanwhile learns its sessions moved on.
  const holder = randomBytes(9).toString('base64url');
  const { recheck, watch: pauses } = recheckAfterPauses(
    { sessions, store: sources.store, keeper, holder, logger, released: (reason) => metrics.sessionReleased(reason) },
    o.pauseThresholdMs,
  );
  const eventIds = new EventIds();
  const replayLogger = componentLogger(logger, 'event-replay');
  const handover = new SessionHandover({
    codec,
    store: sources.store,
    sessions,
    pool,
    keeper,
    metrics,
    logger,
    limiter,
    holder,
    recheck,
    events: sources.events,
    // Every session's GET stream can be resumed with Last-Event-ID, here or on another replica (http/event-replay.ts).
    replayFor: (session) =>
      session.portable === undefined
        ? undefined
        : new SessionEvents(
            session.portable.sessionKey,
            session.protocolVersion >= '2025-11-25',
            { retryMs: o.replay.retryMs, pollMs: o.replay.pollMs },
            {
              store: sources.events,
              ids: eventIds,
              logger: replayLogger,
              notKept: (reason) => metrics.streamEventNotKept(reason),
              replayed: (n) => metrics.streamEventsReplayed(n),
            },
          ),
  });
  // The verified-identity hook (ClientIdentity) stays unset until the mesh verifies identities.
  const proxies = trustedProxies(o.trustForwardedFor ? [...ANY_PEER, ...o.trustedProxies] : o.trustedProxies);
  const origin = { proxies, identity: proxiedAgentIdentity(proxies) };
  // Set on SIGTERM: not ready, connections close, calls still served.
  let leaving = false;
  const ready = (): boolean => !leaving && pool.ready;
  metrics.attachPool({
    inFlight: () => pool.inFlight,
    queueDepth: () => pool.queueDepth,
    processes: () => pool.states(),
    ready,
    sessions: () => sessions.size,
    pendingSessions: () => limiter.pendingCount,
    bounds: () => pool.bounds(),
  });
  const tracer = o.tracing !== undefined ? new CallTracer(o.tracing) : undefined;
  // 2026-07-28 bridges: elicitation and sampling the multi round-trip way, and subscriptions/listen.
  const bridgeMetrics = createModernBridgeMetrics(metrics.registry, o.name, {
    holds: () => mrtr.holds,
    listeners: () => listen.size,
  });
  let selfUrl = '';
  const mrtr: MrtrBridge = new MrtrBridge(
    { holdTimeoutMs: o.mrtrHoldTimeoutMs, maxHolds: o.mrtrMaxHolds, forwardConnectTimeoutMs: 5_000, forward: o.tls === undefined },
    {
      codec: new MrtrStateCodec({ server: o.name, keys: sources.keys }),
      replicaId: randomBytes(12).toString('base64url'),
      selfUrl: () => selfUrl,
      metrics: bridgeMetrics,
      logger: componentLogger(logger, 'mrtr'),
    },
  );
  const listen: ListenRegistry = new ListenRegistry(
    { maxStreams: o.maxListenStreams, requestTimeoutMs: o.initTimeoutMs },
    { pool, sessions, metrics: bridgeMetrics, logger: componentLogger(logger, 'listen'), rejected: (reason) => metrics.rejected(reason) },
  );
  const endpoint = new McpEndpoint(
    { server: o.name, callTimeoutMs: o.callTimeoutMs, keepAliveMs: o.keepAliveMs },
    {
      pool,
      sessions,
      keeper,
      handover,
      limiter,
      origin: (req) => clientOrigin(req, origin),
      router,
      tools,
      metrics,
      logger,
      ...(tracer !== undefined ? { tracer } : {}),
      mrtr,
      listen,
      postStreams: new PostStreams({ graceMs: o.replay.resumeGraceMs, retryMs: o.replay.retryMs }),
    },
  );

  const http = await startHttpServer({
    host: o.host,
    port: o.port,
    path: o.path,
    maxBodyBytes: o.maxBodyBytes,
    limits: {
      maxJsonDepth: o.maxJsonDepth,
      maxJsonContainers: o.maxJsonContainers,
      perConnection: o.maxInFlightPerConnection,
    },
    origins: { allowed: o.allowedOrigins },
    endpoint,
    registry: metrics.registry,
    openMetrics: metrics.openMetrics,
    metrics,
    logger,
    ready,
    draining: () => leaving || pool.isDraining,
    ...(o.tls ? { tls: o.tls, healthPort: o.healthPort, healthHost: o.healthHost } : {}),
  });
  pool.start();
  keeper.startSweeping();
  pauses.start();
  const advertised = o.host === '0.0.0.0' ? '127.0.0.1' : urlHost(o.host);
  const url = `${o.tls ? 'https' : 'http'}://${advertised}:${http.port}${o.path}`;
  // Where other replicas forward a multi round-trip retry for a call held here.
  const direct = o.consul?.advertiseAddress !== undefined ? urlHost(o.consul.advertiseAddress) : advertised;
  selfUrl = `${o.tls ? 'https' : 'http'}://${direct}:${http.port}${o.path}`;
  logger.info(
    {
      url,
      pool: pool.bounds(),
      ...loggableCommand([o.command, ...o.args]),
      sessionKeys: sources.keySource,
      sessionStore: sources.storeKind,
    },
    'adapter listening',
  );

  let registration: SelfRegistration | undefined;
  if (o.consul !== undefined) {
    try {
      registration = await registerSelf({
        consulUrl: o.consul.url,
        name: o.name,
        host: o.host,
        port: http.port,
        path: o.path,
        advertiseAddress: o.consul.advertiseAddress,
        serviceId: o.consul.serviceId,
        token: o.consul.token,
        ...(http.healthPort !== undefined ? { tls: { healthHost: o.healthHost, healthPort: http.healthPort } } : {}),
        ready,
        logger,
      });
    } catch (err) {
      await pool.stop();
      await http.close();
      await sources.stop();
      throw new Error(`could not register in Consul at ${o.consul.url}: ${(err as Error).message}`);
    }
  }

  let shuttingDown: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    const deadline = performance.now() + o.drainTimeoutMs;
    leaving = true;
    http.beginDrain();
    logger.info({ inFlight: pool.inFlight, drainTimeoutMs: o.drainTimeoutMs }, 'draining');
    await registration?.stop();
    // Half the deadline at most, so that calls still coming have time to finish.
    await http.quietFor(DRAIN_QUIET_MS, performance.now() + o.drainTimeoutMs / 2);
    pool.beginDrain();
    const idle = await pool.waitIdle(Math.max(0, deadline - performance.now()));
    if (!idle) logger.warn({ inFlight: pool.inFlight }, 'drain deadline reached with calls in flight; they end now');
    pauses.stop();
    keeper?.stop();
    keeper?.closeAll();
    listen.closeAll();
    mrtr.stop();
    await replays.stop();
    await pool.stop();
    endpoint.stop();
    await http.close();
    await sources.stop();
    await tracer?.shutdown().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not send the last spans'));
    logger.info('adapter stopped');
  };

  return {
    url,
    host: o.host,
    port: http.port,
    metrics,
    consulServiceId: registration?.id,
    healthPort: http.healthPort,
    ready,
    whenReady: () => pool.whenReady(),
    processIds: () => pool.readyWorkers().map((w) => w.pid),
    shutdown: () => (shuttingDown ??= shutdown()),
  };
}
