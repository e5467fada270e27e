// `mcpmesh up` owns its children and keeps secrets out of its logs:
// - SIGKILL of `up` takes Envoy, the adapters, their stdio server processes and
//   the `run:` servers with it, and a second `up` on the same file serves;
// - a secret in a stdio or `run:` server's arguments or environment appears in
//   no log line of `up` or its children, restarts included.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { descendants, freeUpPorts, HTTP_FIXTURE, STDIO_FIXTURE, startUp, stopUp, UP_CLI, writeUpConfig } from '../../support/up-process.js';
import { until } from '../../support/wait.js';

const started: ChildProcess[] = [];
/** Processes seen under an `up`, with their command lines: a failed test kills what is left of them (a pid reused since is spared). */
const seen = new Map<number, string>();
const remember = (pids: readonly number[]) => {
  for (const p of pids) seen.set(p, cmdline(p));
};
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const [pid, line] of seen) {
    if (!alive(pid) || cmdline(pid) !== line) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Alive and not a zombie (an orphan's zombie waits for whoever reaps it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The guard's processes (lib/guarded-spawn.ts): a watcher, or a command not yet exec'd. */
const guard = (pid: number) => cmdline(pid).includes('mcpmesh-guard');

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** A tool call through Envoy, retried while Envoy learns the endpoints; the answer's text. */
async function call(url: string, tool: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 80; i++) {
    const client = new Client({ name: 'up-hardening', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const r = (await client.callTool({ name: tool, arguments: {} })) as { content: { text: string }[] };
      return r.content[0]!.text;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await client.close();
    }
  }
  throw new Error(`${tool} on ${url} never answered: ${String(last)}`);
}

test('SIGKILL of mcpmesh up takes Envoy, adapters, stdio servers and run servers with it; a second up serves', async () => {
  const ports = await freeUpPorts(2);
  const { listen } = ports;
  const [stdioPort, runPort] = ports.extra;
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-kill-'));
  const config = writeUpConfig(dir, ports, {
    servers: [
      { name: 'tools', stdio: { command: [process.execPath, STDIO_FIXTURE], pool: 2, port: stdioPort } },
      { name: 'web', run: { command: [process.execPath, HTTP_FIXTURE], port: runPort } },
    ],
  });
  const toolsUrl = `http://127.0.0.1:${listen}/mcp/tools`;
  const webUrl = `http://127.0.0.1:${listen}/mcp/web`;
  const first = await startUp(config, started, { waitFor: [toolsUrl, webUrl] });
  const serverPid = Number(await call(toolsUrl, 'whoami'));
  assert.equal(await call(webUrl, 'whoami'), `port-${runPort}`);
  const family = descendants(first.proc.pid!);
  remember(family);
  const kinds = {
    // The executable named envoy, not any path with "envoy" in it (a checkout's directory may have one).
    envoy: family.filter((p) => /^\S*\/envoy /.test(cmdline(p)) && !guard(p)),
    adapter: family.filter((p) => cmdline(p).includes(' adapter --name tools') && !guard(p)),
    stdio: family.filter((p) => cmdline(p).includes('stdio-server.js') && !cmdline(p).includes(' adapter ') && !guard(p)),
    run: family.filter((p) => cmdline(p).includes('http-mcp-server.js') && !guard(p)),
  };
  assert.equal(kinds.envoy.length, 1, `one Envoy under up: ${family.map(cmdline).join('\n')}`);
  assert.equal(kinds.adapter.length, 1, 'one adapter');
  assert.equal(kinds.stdio.length, 2, 'two stdio server processes');
  assert.ok(kinds.stdio.includes(serverPid), 'the process that answered runs under up');
  assert.equal(kinds.run.length, 1, 'one run server');

  first.proc.kill('SIGKILL');
  await new Promise<void>((r) =>
    first.proc.exitCode !== null || first.proc.signalCode !== null ? r() : first.proc.once('exit', () => r()),
  );
  await until(() => family.every((p) => !alive(p)), 'every child of the killed up to be gone', 5_000, 50).catch(() => {
    assert.fail(
      `left behind:\n${family
        .filter(alive)
        .map((p) => `${p} ${cmdline(p)}`)
        .join('\n')}`,
    );
  });

  const second = await startUp(config, started, { waitFor: [toolsUrl, webUrl] });
  remember(descendants(second.proc.pid!));
  assert.match(await call(toolsUrl, 'whoami'), /^\d+$/);
  assert.equal(await call(webUrl, 'whoami'), `port-${runPort}`);
  const secondFamily = descendants(second.proc.pid!);
  await stopUp(second);
  await until(() => secondFamily.every((p) => !alive(p)), 'every child of the stopped up to be gone', 5_000, 50);
});

test('a port taken by another process stops up with an error naming the port', async () => {
  const ports = await freeUpPorts(1);
  const { envoyAdmin } = ports;
  const [runPort] = ports.extra;
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-port-'));
  const config = writeUpConfig(dir, ports, {
    servers: [{ name: 'web', run: { command: [process.execPath, HTTP_FIXTURE], port: runPort } }],
  });
  const { createServer } = await import('node:net');
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(envoyAdmin, '127.0.0.1', r));
  try {
    const r = spawnSync(process.execPath, [UP_CLI, 'up', '--config', config], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`port ${envoyAdmin} on 127\\.0\\.0\\.1 \\(Envoy's admin endpoint\\) is in use by another process`));
  } finally {
    squatter.close();
  }
});

test('a secret in a server command line or environment appears in no log line, restarts included', async () => {
  const ports = await freeUpPorts(2);
  const { listen } = ports;
  const [stdioPort, runPort] = ports.extra;
  const secret = `s3cr3t-${randomUUID()}`;
  const envSecret = `tok-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-secrets-'));
  // sh receives the secrets as arguments (as a real server's flags would be) and
  // execs the fixture without them.
  const config = writeUpConfig(dir, ports, {
    servers: [
      {
        name: 'tools',
        stdio: {
          command: ['/bin/sh', '-c', 'exec "$0" "$1"', process.execPath, STDIO_FIXTURE, `--api-key=${secret}`, '--password', secret],
          env: { API_TOKEN: envSecret },
          port: stdioPort,
        },
      },
      {
        name: 'web',
        run: {
          command: ['/bin/sh', '-c', 'exec "$0" "$1"', process.execPath, HTTP_FIXTURE, `--token=${secret}`],
          env: { API_TOKEN: envSecret },
          port: runPort,
        },
      },
    ],
  });
  const toolsUrl = `http://127.0.0.1:${listen}/mcp/tools`;
  const webUrl = `http://127.0.0.1:${listen}/mcp/web`;
  const up = await startUp(config, started, { waitFor: [toolsUrl, webUrl], env: { ...process.env, MCPMESH_LOG_LEVEL: 'debug' } });
  const family = () => descendants(up.proc.pid!);
  remember(family());

  // The adapter restarts its stdio server process.
  const serverPid = Number(await call(toolsUrl, 'whoami'));
  process.kill(serverPid, 'SIGKILL');
  await until(async () => Number(await call(toolsUrl, 'whoami')) !== serverPid, 'a restarted stdio server process', 20_000, 100);
  // up restarts the adapter and the run server.
  const adapterPid = family().find((p) => cmdline(p).includes(' adapter --name tools') && !guard(p));
  const runPid = family().find((p) => cmdline(p).includes('http-mcp-server.js') && !guard(p));
  assert.ok(adapterPid !== undefined && runPid !== undefined, family().map(cmdline).join('\n'));
  process.kill(adapterPid, 'SIGKILL');
  process.kill(runPid, 'SIGKILL');
  await until(() => (up.output().match(/process exited; restarting/g) ?? []).length >= 2, 'up to log both restarts', 10_000, 50);
  await until(() => (up.output().match(/"process started"/g) ?? []).length >= 4, 'up to log both processes started again', 20_000, 50);
  assert.match(await call(toolsUrl, 'whoami'), /^\d+$/);
  assert.equal(await call(webUrl, 'whoami'), `port-${runPort}`);
  remember(family());
  await stopUp(up);

  const log = up.output();
  assert.ok((log.match(/"server process started"/g) ?? []).length >= 3, 'the adapter logged its process starts');
  assert.ok(
    !log.includes(secret),
    `the argument secret was logged:\n${log
      .split('\n')
      .filter((l) => l.includes(secret))
      .join('\n')}`,
  );
  assert.ok(
    !log.includes(envSecret),
    `the environment secret was logged:\n${log
      .split('\n')
      .filter((l) => l.includes(envSecret))
      .join('\n')}`,
  );
});
