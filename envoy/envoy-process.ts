// Finding and running Envoy: used by `mcpmesh up` and by the integration tests.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnGuarded } from '../lib/guarded-spawn.js';

export const CACHED_ENVOY = join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh'), 'envoy-venv', 'bin', 'envoy');

/** An `envoy` on PATH wins; else the one scripts/setup.sh installed. */
export function locateEnvoy(): string {
  const onPath = spawnSync('sh', ['-c', 'command -v envoy'], { encoding: 'utf8' });
  const found = onPath.status === 0 ? onPath.stdout.trim() : '';
  if (found) return found;
  if (existsSync(CACHED_ENVOY)) return CACHED_ENVOY;
  throw new Error(`Envoy not found on PATH nor at ${CACHED_ENVOY}: run scripts/setup.sh envoy`);
}

export interface EnvoyOptions {
  readonly configYaml: string;
  readonly adminPort: number;
  readonly logLevel?: string;
  readonly id?: string;
  readonly extraArgs?: readonly string[];
  /** How long to wait for the admin endpoint. */
  readonly startTimeoutMs?: number;
}

export interface EnvoyProcess {
  readonly pid: number;
  readonly adminUrl: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  logTail(): string;
  /** Resolves once the server state is LIVE (initial xDS fetched). */
  waitLive(timeoutMs?: number): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 200;

export async function startEnvoy(opts: EnvoyOptions): Promise<EnvoyProcess> {
  const bin = locateEnvoy();
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-envoy-'));
  const configPath = join(dir, 'envoy.yaml');
  writeFileSync(configPath, opts.configYaml);
  // The access log (docs/observability.md) reaches its file within a second, not Envoy's default 10 s.
  const args = [
    '-c',
    configPath,
    '--disable-hot-restart',
    '-l',
    opts.logLevel ?? 'warning',
    '--file-flush-interval-msec',
    '1000',
    ...(opts.id ? ['--service-node', opts.id] : []),
    ...(opts.extraArgs ?? []),
  ];
  // Own process group (stopping Envoy never signals its parent), and Envoy
  // dies with the process that started it, also when that one is SIGKILLed.
  const child = spawnGuarded(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) tail.push(line);
    if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => rmSync(dir, { recursive: true, force: true }));

  const adminUrl = `http://127.0.0.1:${opts.adminPort}`;
  const state = async (): Promise<string | undefined> => {
    try {
      const res = await fetch(`${adminUrl}/server_info`);
      return ((await res.json()) as { state?: string }).state;
    } catch {
      return undefined;
    }
  };
  const waitState = async (ok: (s: string) => boolean, timeoutMs: number, what: string) => {
    const end = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    for (;;) {
      if (exitCode !== undefined) throw new Error(`Envoy exited (${String(exitCode)}) before ${what}:\n${tail.slice(-30).join('\n')}`);
      const s = await state();
      if (s !== undefined && ok(s)) return;
      if (Date.now() > end) throw new Error(`Envoy not ${what} after ${timeoutMs} ms:\n${tail.slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const handle: EnvoyProcess = {
    pid: child.pid ?? -1,
    adminUrl,
    exited,
    logTail: () => tail.join('\n'),
    waitLive: (timeoutMs = 15_000) => waitState((s) => s === 'LIVE', timeoutMs, 'live'),
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await waitState(() => true, opts.startTimeoutMs ?? 15_000, 'serving its admin endpoint');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return handle;
}
