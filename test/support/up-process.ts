// `mcpmesh up` as the tests run it: a config file on ports of their own, the
// process started and waited for until it prints what it serves, and stopped
// the way a user stops it (Ctrl-C), with whatever it wrote kept for failures.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePorts } from './ports.js';

export const UP_CLI = join(process.cwd(), 'dist/cli/mcpmesh.js');
export const STDIO_FIXTURE = join(process.cwd(), 'dist/test/fixtures/stdio-server.js');
export const HTTP_FIXTURE = join(process.cwd(), 'dist/test/fixtures/http-mcp-server.js');

export interface UpPorts {
  readonly listen: number;
  readonly envoyAdmin: number;
  readonly xds: number;
  readonly admin: number;
}

/** Free ports for Envoy and the control plane, and `extra` more for the servers. */
export async function freeUpPorts(extra: number): Promise<UpPorts & { readonly extra: number[] }> {
  const [listen, envoyAdmin, xds, admin, ...rest] = await freePorts(4 + extra);
  return { listen: listen!, envoyAdmin: envoyAdmin!, xds: xds!, admin: admin!, extra: rest };
}

/** Writes DIR/mcpmesh.yaml with Envoy and the control plane on `ports`, plus `rest` (servers, mesh, ...). */
export function writeUpConfig(dir: string, ports: UpPorts, rest: Record<string, unknown>): string {
  const config = join(dir, 'mcpmesh.yaml');
  writeFileSync(
    config,
    stringify({
      envoy: { listenPort: ports.listen, adminPort: ports.envoyAdmin },
      controlPlane: { xdsPort: ports.xds, adminPort: ports.admin },
      ...rest,
    }),
  );
  return config;
}

export interface Up {
  readonly proc: ChildProcess;
  /** Everything `up` and its children wrote, stdout and stderr interleaved. */
  output(): string;
  /** Only stdout: the lines `up` prints for the user. */
  stdout(): string;
}

export interface StartUpOptions {
  /** Waits until stdout holds every one of these (the agent URLs `up` prints). */
  readonly waitFor: readonly string[];
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts `mcpmesh up --config CONFIG`, registered in `started` for the file's after() to kill. */
export async function startUp(config: string, started: ChildProcess[], opts: StartUpOptions): Promise<Up> {
  const proc = spawn(process.execPath, [UP_CLI, 'up', '--config', config, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  started.push(proc);
  let out = '';
  let stdout = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!opts.waitFor.every((u) => stdout.includes(u))) {
    if (proc.exitCode !== null) assert.fail(`mcpmesh up exited ${proc.exitCode}:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`mcpmesh up did not print ${opts.waitFor.join(', ')} in 60 s:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, output: () => out, stdout: () => stdout };
}

/** Ctrl-C, and `up` exits 0. */
export async function stopUp(up: Up): Promise<void> {
  up.proc.kill('SIGINT');
  const code = await new Promise<number | null>((r) =>
    up.proc.exitCode !== null ? r(up.proc.exitCode) : up.proc.once('exit', (c) => r(c)),
  );
  assert.equal(code, 0, up.output().slice(-2000));
}

/** Every process below `pid`, from ps. */
export function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const rows = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of rows)
      if (parent === p) {
        found.push(child);
        walk(child);
      }
  };
  walk(pid);
  return found;
}
