// `mcpmesh up --envoy-concurrency N` gives the Envoy it starts N worker
// threads; without the flag, one on hosts of up to two cores, else two.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { upEnvoyWorkers } from '../../../envoy/envoy-workers.js';
import { freeUpPorts, HTTP_FIXTURE, startUp, stopUp, UP_CLI, writeUpConfig } from '../../support/up-process.js';

const started: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Envoy's worker count as `up` started it with these flags. */
async function envoyWorkers(flags: string[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-workers-'));
  dirs.push(dir);
  const ports = await freeUpPorts(1);
  const config = writeUpConfig(dir, ports, {
    servers: [{ name: 'demo', run: { command: [process.execPath, HTTP_FIXTURE], replicas: 1, port: ports.extra[0] } }],
  });
  const up = await startUp(config, started, {
    waitFor: [`http://127.0.0.1:${ports.listen}/mcp/demo`],
    args: flags,
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' },
  });
  try {
    const info = (await fetch(`http://127.0.0.1:${ports.envoyAdmin}/server_info`).then((r) => r.json())) as {
      command_line_options: { concurrency: number };
    };
    return info.command_line_options.concurrency;
  } finally {
    await stopUp(up);
  }
}

// Three is neither default, so the flag alone can have set it.
test('--envoy-concurrency 3: three Envoy workers', async () => {
  assert.equal(await envoyWorkers(['--envoy-concurrency', '3']), 3);
});

test('without the flag: one worker on up to two cores, else two', async () => {
  assert.equal(await envoyWorkers([]), upEnvoyWorkers(availableParallelism()));
});

test('a bad value is a usage error before anything starts', async () => {
  const r = spawn(process.execPath, [UP_CLI, 'up', '--config', join(tmpdir(), 'none.yaml'), '--envoy-concurrency', 'many'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  r.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((res) => r.once('exit', (c) => res(c)));
  assert.equal(code, 2, stderr);
  assert.match(stderr, /--envoy-concurrency must be a whole number/);
});
