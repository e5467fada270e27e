// Show 1: tool calls through the adapter return exactly what the server
// returns, for both protocol generations, with many concurrent clients on a
// pool of 1 and of 4. The reference is the same fixture server spoken to
// directly over stdio.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { connectClient, type Era, FIXTURE_SERVER, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';

const CLIENTS = 8;
const CALLS_PER_CLIENT = 10;

let direct: Client;

before(async () => {
  direct = new Client({ name: 'direct', version: '1' });
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [FIXTURE_SERVER], stderr: 'ignore' }));
});
after(async () => {
  await direct?.close();
});

/** What the server said, with the cache hints a 2026-07-28 client keeps from the adapter's stamp. */
function comparable(result: Record<string, unknown>): Record<string, unknown> {
  const { ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  return rest;
}

async function callError(p: Promise<unknown>): Promise<{ code: unknown; message: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return { code: e.code, message: e.message };
  }
  throw new Error('expected the call to fail');
}

for (const pool of [1, 4]) {
  describe(`pool of ${pool}`, () => {
    let adapter: AdapterHandle;
    before(async () => {
      adapter = await startFixtureAdapter({ poolMin: pool });
    });
    after(async () => {
      await adapter?.shutdown();
    });

    for (const era of ['2025', '2026'] as Era[]) {
      test(`${era}: ${CLIENTS} concurrent clients get the server's own answers`, async () => {
        const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connectClient(adapter.url, era, { name: `c${i}` })));
        try {
          const texts = clients.flatMap((_, c) =>
            Array.from({ length: CALLS_PER_CLIENT }, (_, k) => `${era}/${pool}/${c}/${k} ✓ "quoted" \\ back`),
          );
          const expected = await Promise.all(texts.map((text) => direct.callTool({ name: 'echo', arguments: { text } })));
          const got = await Promise.all(
            clients.map((client, c) =>
              Promise.all(
                Array.from({ length: CALLS_PER_CLIENT }, (_, k) =>
                  client.callTool({ name: 'echo', arguments: { text: texts[c * CALLS_PER_CLIENT + k]! } }),
                ),
              ),
            ),
          );
          assert.deepEqual(
            got.flat().map((r) => comparable(r)),
            expected.map((r) => comparable(r)),
          );

          const client = clients[0]!;
          assert.deepEqual(
            comparable(await client.callTool({ name: 'fail', arguments: {} })),
            comparable(await direct.callTool({ name: 'fail', arguments: {} })),
          );
          assert.deepEqual(
            await callError(client.callTool({ name: 'no-such-tool', arguments: {} })),
            await callError(direct.callTool({ name: 'no-such-tool', arguments: {} })),
          );
          assert.deepEqual(
            comparable(await client.getPrompt({ name: 'greet', arguments: { who: 'mesh' } })),
            comparable(await direct.getPrompt({ name: 'greet', arguments: { who: 'mesh' } })),
          );
          assert.deepEqual(
            comparable(await client.readResource({ uri: 'fixture://note' })),
            comparable(await direct.readResource({ uri: 'fixture://note' })),
          );
          const names = (r: { tools: Array<{ name: string }> }) => r.tools.map((t) => t.name).sort();
          assert.deepEqual(names(await client.listTools()), names(await direct.listTools()));
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      });
    }

    if (pool > 1) {
      test('concurrent calls are spread evenly over the processes of the pool', async () => {
        const client = await connectClient(adapter.url, '2026');
        try {
          const answers = await Promise.all(
            Array.from({ length: 8 }, () => client.callTool({ name: 'slow', arguments: { ms: 150 } }).then(firstText)),
          );
          const perPid = new Map<string, number>();
          for (const a of answers) {
            const pid = / in (\d+)$/.exec(a)![1]!;
            perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
          }
          assert.deepEqual([...perPid.values()], [2, 2, 2, 2]);
        } finally {
          await client.close();
        }
      });
    }
  });
}

/** One JSON-RPC exchange with a fresh fixture process over raw stdio: the server's exact bytes. */
async function directLine(request: object): Promise<string> {
  const child = spawn(process.execPath, [FIXTURE_SERVER], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (out += c));
  child.stdin.write(
    `${JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
  );
  child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
  child.stdin.write(`${JSON.stringify(request)}\n`);
  const end = Date.now() + 10_000;
  while (out.split('\n').filter(Boolean).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  return out.split('\n').filter(Boolean)[1]!;
}

describe('byte for byte', () => {
  let adapter: AdapterHandle;
  before(async () => {
    adapter = await startFixtureAdapter();
  });
  after(async () => {
    await adapter?.shutdown();
  });

  const request = {
    jsonrpc: '2.0',
    id: 'req-7',
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'exact ✓ \u2028 "q"' } },
  };
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

  test('2025: the response body is the server line with only the id changed', async () => {
    const init = await fetch(adapter.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const res = await fetch(adapter.url, { method: 'POST', headers: { ...headers, 'mcp-session-id': sid }, body: JSON.stringify(request) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(await res.text(), await directLine(request));
  });

  test('2026-07-28: the same bytes plus the resultType the revision requires', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const modern = { ...request, params: { ...request.params, _meta: meta } };
    const res = await fetch(adapter.url, {
      method: 'POST',
      headers: { ...headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      body: JSON.stringify(modern),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.includes('"resultType":"complete",'));
    assert.equal(text.replace('"resultType":"complete",', ''), await directLine(request));
  });
});
