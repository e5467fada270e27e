// `mcpmesh up` as a user runs it: the CLI starts the control plane, Envoy and
// the file's local servers, prints the agent URLs, serves MCP calls, and stops
// everything on Ctrl-C.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { stringify } from 'yaml';
import { freePorts } from '../../support/ports.js';

const cli = join(process.cwd(), 'dist/cli/mcpmesh.js');
const fixture = join(process.cwd(), 'dist/test/fixtures/http-mcp-server.js');
const children: import('node:child_process').ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function descendants(pid: number): number[] {
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

test('mcpmesh up runs the mesh from a config file and stops it cleanly', async () => {
  const [listen, envoyAdmin, xds, admin, first] = await freePorts(5);
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-'));
  const config = join(dir, 'mcpmesh.yaml');
  writeFileSync(
    config,
    stringify({
      envoy: { listenPort: listen, adminPort: envoyAdmin },
      controlPlane: { xdsPort: xds, adminPort: admin },
      servers: [{ name: 'demo', run: { command: [process.execPath, fixture], replicas: 2, port: first } }],
    }),
  );
  const up = spawn(process.execPath, [cli, 'up', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(up);
  let stdout = '';
  let stderr = '';
  up.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  up.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const agentUrl = `http://127.0.0.1:${listen}/mcp/demo`;
  const deadline = Date.now() + 60_000;
  while (!stdout.includes(agentUrl)) {
    if (up.exitCode !== null) assert.fail(`mcpmesh up exited ${up.exitCode}:\n${stderr.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`no agent URL printed in 60 s:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = new Set<string>();
  // Stateless calls spread over both replicas once Envoy has their endpoints.
  for (let i = 0; i < 60 && seen.size < 2; i++) {
    const client = new Client({ name: 'up-test', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(agentUrl)));
      const r = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
      seen.add(r.content[0]!.text);
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await client.close();
    }
  }
  assert.deepEqual([...seen].sort(), [`port-${first}`, `port-${first! + 1}`]);
  const family = descendants(up.pid!);
  assert.ok(family.length >= 3, `Envoy and two servers run under mcpmesh up (${family.length})`);
  up.kill('SIGINT');
  const code = await new Promise<number | null>((r) => up.once('exit', (c) => r(c)));
  assert.equal(code, 0, stderr.slice(-2000));
  await new Promise((r) => setTimeout(r, 300));
  const alive = family.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(alive, [], 'no process left behind');
});
