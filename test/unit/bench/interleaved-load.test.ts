// The benches' interleaved load (bench/adapter/load.ts): every client takes
// the targets in turn, so each target gets its share of one load, and a
// failing target's errors are its own.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { runHttpInterleaved } from '../../../bench/adapter/load.js';

async function endpoint(status: number): Promise<{ url: string; calls: () => number; close: () => Promise<void> }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls++;
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'echo: x' }] } });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls: () => calls,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('an interleaved load gives every target its turn, and keeps each target’s errors apart', async () => {
  const targets = await Promise.all([endpoint(200), endpoint(200), endpoint(503)]);
  try {
    const results = await runHttpInterleaved(
      targets.map((t) => t.url),
      4,
      { warmupMs: 50, measureMs: 300 },
      { name: 'echo', arguments: { text: 'x' }, expect: 'echo: x' },
    );
    assert.equal(results.length, 3);
    const [a, b, failing] = results;
    assert.ok(a!.calls > 20 && b!.calls > 20, `calls: ${a!.calls}, ${b!.calls}`);
    assert.equal(a!.errors + b!.errors, 0);
    // Each client moves on after every call, so two targets' counts differ by at most a turn per client.
    assert.ok(Math.abs(a!.calls - (failing!.errors + failing!.calls)) <= 8, `${a!.calls} against ${failing!.errors}`);
    assert.equal(failing!.calls, 0);
    assert.match(failing!.firstError ?? '', /^503 /);
    assert.ok(targets.every((t) => t.calls() > 0));
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
});
