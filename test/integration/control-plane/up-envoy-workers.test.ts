// `mcpmesh up --envoy-concurrency N` gives the Envoy it starts N worker
// threads; without the flag, min(2, cores).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { freePorts } from '../../support/ports.js';
import { until } from '../../support/wait.js';

const cli = join(process.cwd(), 'dist/cli/mcpmesh.js');
const fixture = join(process.cwd(), 'dist/test/fixtures/http-mcp-server.js');
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-workers-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Envoy's worker count as `up` started it with these flags. */
async function envoyWorkers(flags: string[]): Promise<number> {
  const [listen, envoyAdmin, xds, admin, first] = await freePorts(5);
  const config = join(dir, `mcpmesh-${listen}.yaml`);
  writeFileSync(
    config,
    stringify({
      envoy: { listenPort: listen, adminPort: envoyAdmin },
      controlPlane: { xdsPort: xds, adminPort: admin },
      servers: [{ name: 'demo', run: { command: [process.execPath, fixture], replicas: 1, port: first } }],
    }),
  );
  const up = spawn(process.execPath, [cli, 'up', '--config', config, ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' },
  });
  children.push(up);
  let stdout = '';
  up.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  let stderr = '';
  up.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  let info: { command_line_options?: { concurrency?: number } } = {};
  await until(
    async () => {
      if (up.exitCode !== null) assert.fail(`mcpmesh up exited ${up.exitCode}:\n${stderr}`);
      info = await fetch(`http://127.0.0.1:${envoyAdmin}/server_info`).then(
        (r) => r.json() as Promise<typeof info>,
        () => ({}),
      );
      // Once `up` says so it also stops on Ctrl-C.
      return stdout.includes('mcpmesh is up') && info.command_line_options?.concurrency !== undefined;
    },
    "mcpmesh up, and Envoy's server_info",
    60_000,
    100,
  );
  up.kill('SIGINT');
  const code = await new Promise<number | null>((r) => (up.exitCode !== null ? r(up.exitCode) : up.once('exit', (c) => r(c))));
  assert.equal(code, 0, stderr);
  return info.command_line_options!.concurrency!;
}

test('--envoy-concurrency 1: one Envoy worker', async () => {
  assert.equal(await envoyWorkers(['--envoy-concurrency', '1']), 1);
});

test('without the flag: min(2, cores) workers', async () => {
  assert.equal(await envoyWorkers([]), Math.min(2, availableParallelism()));
});

test('a bad value is a usage error before anything starts', async () => {
  const r = spawn(process.execPath, [cli, 'up', '--config', join(dir, 'none.yaml'), '--envoy-concurrency', 'many'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  r.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => r.once('exit', (c) => res(c)));
  assert.equal(code, 2, stderr);
  assert.match(stderr, /--envoy-concurrency must be a whole number/);
});
