// `mcpmesh up` as a user runs it: the CLI starts the control plane, Envoy and
// the file's local servers, prints the agent URLs, serves MCP calls, and stops
// everything on Ctrl-C.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { freePorts } from '../../support/ports.js';
import { descendants, HTTP_FIXTURE, startUp, stopUp, writeUpConfig } from '../../support/up-process.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('mcpmesh up runs the mesh from a config file and stops it cleanly', async () => {
  const [listen, envoyAdmin, xds, admin, first] = await freePorts(5);
  const config = writeUpConfig(
    mkdtempSync(join(tmpdir(), 'mcpmesh-up-')),
    { listen: listen!, envoyAdmin: envoyAdmin!, xds: xds!, admin: admin! },
    { servers: [{ name: 'demo', run: { command: [process.execPath, HTTP_FIXTURE], replicas: 2, port: first } }] },
  );
  const agentUrl = `http://127.0.0.1:${listen}/mcp/demo`;
  const up = await startUp(config, children, { waitFor: [agentUrl] });
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
  const family = descendants(up.proc.pid!);
  assert.ok(family.length >= 3, `Envoy and two servers run under mcpmesh up (${family.length})`);
  await stopUp(up);
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
