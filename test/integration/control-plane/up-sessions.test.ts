// `mcpmesh up` keeps its adapters' session key ring and session state across
// a restart of the whole mesh: an SDK 1.x client (no re-initialize on a 404)
// that stays open while the mesh is down carries on once it is back, with
// its logging level and resource subscription.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { stringify } from 'yaml';
import { upStateDir } from '../../../cli/commands/up.js';
import { freePorts } from '../../support/ports.js';
import { until } from '../../support/wait.js';

const cli = join(process.cwd(), 'dist/cli/mcpmesh.js');
const fixture = join(process.cwd(), 'dist/test/fixtures/stdio-server.js');
const URI = 'fixture://note';
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-sessions-'));
const config = join(dir, 'mcpmesh.yaml');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(upStateDir(config), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function up(agentUrl: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [cli, 'up', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' },
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  const deadline = Date.now() + 60_000;
  while (!stdout.includes(agentUrl)) {
    if (child.exitCode !== null) assert.fail(`mcpmesh up exited ${child.exitCode}:\n${stderr}`);
    if (Date.now() > deadline) assert.fail(`no agent URL printed in 60 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Serving through Envoy: stateless calls reach both replicas.
  await until(
    async () => {
      const res = await fetch(agentUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'whoami',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: {
            name: 'whoami',
            arguments: {},
            _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
          },
        }),
      }).catch(() => undefined);
      return res?.status === 200;
    },
    'the mesh serving',
    30_000,
    100,
  );
  return { child, stderr: () => stderr };
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
  assert.equal(code, 0);
}

async function text(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ text?: string }> };
  return r.content[0]?.text ?? '';
}

test('after a restart of mcpmesh up, an open SDK 1.x session carries on with its level and subscription', async () => {
  const [listen, envoyAdmin, xds, admin, first] = await freePorts(5);
  writeFileSync(
    config,
    stringify({
      envoy: { listenPort: listen, adminPort: envoyAdmin },
      controlPlane: { xdsPort: xds, adminPort: admin },
      servers: [{ name: 'fixture', stdio: { command: [process.execPath, fixture], replicas: 2, port: first } }],
    }),
  );
  const agentUrl = `http://127.0.0.1:${listen}/mcp/fixture`;
  let mesh = await up(agentUrl);
  const keysFile = join(upStateDir(config), 'session-keys.json');
  assert.equal(statSync(keysFile).mode & 0o777, 0o600);

  const client = new Client({ name: 'up-sessions', version: '1' }, { capabilities: {} });
  const updates: string[] = [];
  const logs: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(String(n.params.data)));
  client.onerror = () => undefined;
  await client.connect(new StreamableHTTPClientTransport(new URL(agentUrl)));
  try {
    await client.setLoggingLevel('error');
    await client.subscribeResource({ uri: URI });
    await until(
      async () => (await text(client, 'touch', { uri: URI })) === `touched ${URI}` && updates.length > 0,
      'an update on the GET stream',
      10_000,
      100,
    );

    await stop(mesh.child);
    mesh = await up(agentUrl);

    // No error from here on: the first call after the restart is taken over.
    assert.equal(await text(client, 'touch', { uri: URI }), `touched ${URI}`, 'the subscription replayed on the new process');
    assert.equal(await text(client, 'log', { message: 'after the restart' }), 'logged');
    assert.deepEqual(logs, [], 'the level `error` holds: no info message');
    for (let i = 0; i < 5; i++) assert.match(await text(client, 'whoami', {}), /^\d+$/);
  } finally {
    await client.close();
    await stop(mesh.child);
  }
});
