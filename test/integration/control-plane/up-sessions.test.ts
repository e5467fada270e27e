// `mcpmesh up` keeps its adapters' session key ring and session state across
// a restart of the whole mesh: an SDK 1.x client (no re-initialize on a 404)
// that stays open while the mesh is down carries on once it is back, with
// its logging level and resource subscription.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { upStateDir } from '../../../cli/commands/up.js';
import { postToolCall } from '../../support/modern-call.js';
import { freeUpPorts, STDIO_FIXTURE, startUp, stopUp, type Up, writeUpConfig } from '../../support/up-process.js';
import { until } from '../../support/wait.js';

const URI = 'fixture://note';
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-sessions-'));
const config = join(dir, 'mcpmesh.yaml');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(upStateDir(config), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** `up` on the file, serving through Envoy: stateless calls answer. */
async function up(agentUrl: string): Promise<Up> {
  const mesh = await startUp(config, children, { waitFor: [agentUrl], env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' } });
  await until(
    async () => {
      const res = await postToolCall(agentUrl, 'whoami', {}).catch(() => undefined);
      await res?.text();
      return res?.status === 200;
    },
    'the mesh serving',
    30_000,
    100,
  );
  return mesh;
}

async function text(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const r = (await client.callTool({ name, arguments: args })) as { content: Array<{ text?: string }> };
  return r.content[0]?.text ?? '';
}

test('after a restart of mcpmesh up, an open SDK 1.x session carries on with its level and subscription', async () => {
  const ports = await freeUpPorts(1);
  writeUpConfig(dir, ports, {
    servers: [{ name: 'fixture', stdio: { command: [process.execPath, STDIO_FIXTURE], replicas: 2, port: ports.extra[0] } }],
  });
  const listen = ports.listen;
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

    await stopUp(mesh);
    mesh = await up(agentUrl);

    // No error from here on: the first call after the restart is taken over.
    assert.equal(await text(client, 'touch', { uri: URI }), `touched ${URI}`, 'the subscription replayed on the new process');
    assert.equal(await text(client, 'log', { message: 'after the restart' }), 'logged');
    assert.deepEqual(logs, [], 'the level `error` holds: no info message');
    for (let i = 0; i < 5; i++) assert.match(await text(client, 'whoami', {}), /^\d+$/);
  } finally {
    await client.close();
    await stopUp(mesh);
  }
});
