// `mcpmesh up --pin-adapters`: each stdio adapter and the server processes of
// its pool run on one CPU, the adapters taking the host's CPUs round-robin, and
// calls through Envoy are served; without the flag nothing is pinned.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { adapterCpus } from '../../../cli/commands/adapter-cpu-pinning.js';
import { descendants, freeUpPorts, STDIO_FIXTURE, startUp, stopUp, writeUpConfig } from '../../support/up-process.js';

const started: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** The CPUs a process may run on, as the kernel lists them ("0", "0-1"). */
function allowedCpus(pid: number): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Cpus_allowed_list:'));
  assert.ok(line !== undefined, `no Cpus_allowed_list for ${pid}`);
  return line.slice('Cpus_allowed_list:'.length).trim();
}

/** A tool call through Envoy with the 2026-07-28 client, retried while Envoy learns the endpoints. */
async function whoami(url: string): Promise<number> {
  let last: unknown;
  for (let i = 0; i < 80; i++) {
    const client = new Client({ name: 'up-pin-adapters', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const r = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
      return Number(r.content[0]!.text);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await client.close();
    }
  }
  throw new Error(`whoami on ${url} never answered: ${String(last)}`);
}

/** Starts `up` with two stdio servers (pool 1 and pool 2); per server: its adapter's and its pool's allowed CPUs. */
async function placement(flags: string[]): Promise<{ adapter: string; servers: string[]; answered: string }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-pin-'));
  dirs.push(dir);
  const ports = await freeUpPorts(2);
  const names = ['one', 'two'];
  const config = writeUpConfig(dir, ports, {
    servers: names.map((name, i) => ({ name, stdio: { command: [process.execPath, STDIO_FIXTURE], pool: i + 1, port: ports.extra[i] } })),
  });
  const urls = names.map((n) => `http://127.0.0.1:${ports.listen}/mcp/${n}`);
  const up = await startUp(config, started, { waitFor: urls, args: flags, env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' } });
  try {
    const family = descendants(up.proc.pid!);
    return await Promise.all(
      names.map(async (name, i) => {
        const adapter = family.find((p) => cmdline(p).includes(` adapter --name ${name} `) && !cmdline(p).includes('mcpmesh-guard'));
        assert.ok(adapter !== undefined, `no adapter for ${name}: ${family.map(cmdline).join('\n')}`);
        const servers = descendants(adapter).filter((p) => cmdline(p).includes('stdio-server.js') && !cmdline(p).includes('mcpmesh-guard'));
        assert.equal(servers.length, i + 1, `${name}: pool of ${i + 1}`);
        const answered = await whoami(urls[i]!);
        assert.ok(servers.includes(answered), `${name}: the process that answered (${answered}) is in its pool`);
        return { adapter: allowedCpus(adapter), servers: servers.map(allowedCpus), answered: allowedCpus(answered) };
      }),
    );
  } finally {
    await stopUp(up);
  }
}

test('--pin-adapters: each adapter and its pool on one CPU, round-robin, and calls are served', async () => {
  const cpus = adapterCpus(2, availableParallelism()).map(String);
  const got = await placement(['--pin-adapters']);
  for (const [i, g] of got.entries()) {
    assert.equal(g.adapter, cpus[i], `adapter ${i} on CPU ${cpus[i]}`);
    assert.deepEqual(
      g.servers,
      g.servers.map(() => cpus[i]),
      `adapter ${i}'s pool on CPU ${cpus[i]}`,
    );
    assert.equal(g.answered, cpus[i]);
  }
});

test('without the flag the adapters and servers keep every CPU up was given', async () => {
  const all = allowedCpus(process.pid);
  const got = await placement([]);
  for (const g of got) {
    assert.equal(g.adapter, all);
    assert.deepEqual(
      g.servers,
      g.servers.map(() => all),
    );
  }
});
