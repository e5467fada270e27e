// Show 5: servers that write garbage to stdout, never answer initialize, exit
// at once (or do not exist): each gets a clear error, restarts with growing
// backoff, and the adapter stays up (live, not ready, answering 503).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { type AdapterHandle, runAdapter } from '../../../adapter/adapter.js';
import { FIXTURE_SERVER } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

interface LogLine {
  readonly msg: string;
  readonly reason?: string;
  readonly detail?: string;
  readonly failures?: number;
  readonly restartInMs?: number;
  readonly line?: string;
}

async function withBadServer(
  command: string,
  args: string[],
  fn: (a: AdapterHandle, logs: LogLine[]) => Promise<void>,
  initTimeoutMs = 300,
): Promise<void> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const adapter = await runAdapter({ name: 'bad', command, args, logger, initTimeoutMs, backoff: { baseMs: 50, maxMs: 1_000, jitter: 0 } });
  try {
    await fn(adapter, logs);
  } finally {
    await adapter.shutdown();
  }
}

const failuresOf = (logs: LogLine[]) => logs.filter((l) => l.msg === 'server process failed; restarting after backoff');

async function staysUp(adapter: AdapterHandle): Promise<void> {
  const base = adapter.url.replace(/\/mcp$/, '');
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(await ready.text(), 'no server process ready\n');
  const res = await fetch(adapter.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/list',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('x-mcpmesh-retryable'), 'true');
}

/** Three failures in a row, each restart waiting twice as long as the one before. */
async function restartsWithBackoff(logs: LogLine[], reason: string, detail: RegExp): Promise<void> {
  await until(() => failuresOf(logs).length >= 3, `three ${reason} failures`, 15_000);
  const f = failuresOf(logs).slice(0, 3);
  assert.deepEqual(
    f.map((l) => [l.reason, l.failures, l.restartInMs]),
    [
      [reason, 1, 50],
      [reason, 2, 100],
      [reason, 3, 200],
    ],
  );
  for (const l of f) assert.match(l.detail ?? '', detail);
}

describe('servers that cannot start', () => {
  // A shell, not the Node fixture: on a loaded machine Node's own start can
  // take longer than the 300 ms init timeout the timeout tests need, and then
  // the timeout, not the exit, would end the try. The exit path is what this
  // test is about, so the init timeout here is far beyond any start.
  test('exits at once: the exit code and its stderr are the error', async () => {
    await withBadServer(
      '/bin/sh',
      ['-c', 'echo "fixture: configuration error, giving up" >&2; exit 3'],
      async (adapter, logs) => {
        await restartsWithBackoff(
          logs,
          'init_exit',
          /exited before answering initialize: exited with code 3; stderr: fixture: configuration error, giving up/,
        );
        await staysUp(adapter);
      },
      10_000,
    );
  });

  test('never answers initialize: the init timeout is the error', async () => {
    await withBadServer(process.execPath, [FIXTURE_SERVER, '--mode', 'silent'], async (adapter, logs) => {
      await restartsWithBackoff(logs, 'init_timeout', /no answer to initialize within 300 ms/);
      await staysUp(adapter);
    });
  });

  // A shell writes its garbage at once; a Node server may not have started within the 300 ms.
  test('writes garbage to stdout: the garbage is quoted in the error', async () => {
    await withBadServer('/bin/sh', ['-c', 'echo "this is not JSON-RPC"; exec sleep 60'], async (adapter, logs) => {
      await restartsWithBackoff(logs, 'init_timeout', /stdout had \d+ line\(s\) that are not JSON-RPC, last: "this is not JSON-RPC"/);
      await staysUp(adapter);
      const metrics = await adapter.metrics.registry.getSingleMetricAsString('mcpmesh_adapter_stdout_invalid_lines_total');
      assert.ok(Number(/ (\d+)$/m.exec(metrics)![1]) > 0);
    });
  });

  test('does not exist: "command not found" is the error', async () => {
    await withBadServer('/nonexistent/mcp-server', [], async (adapter, logs) => {
      await restartsWithBackoff(logs, 'init_exit', /exited with code 127 \(command not found\).*not found/);
      await staysUp(adapter);
    });
  });
});

test('a server that prints a banner on stdout first is tolerated, and the line is reported', async () => {
  await withBadServer(
    process.execPath,
    [FIXTURE_SERVER, '--mode', 'banner'],
    async (adapter, logs) => {
      await adapter.whenReady();
      assert.ok(adapter.ready());
      await until(() => logs.some((l) => l.line?.includes('fixture server 1.0 starting') === true), 'the banner logged');
      assert.match(logs.find((l) => l.line !== undefined)!.msg, /not a JSON-RPC message; ignored/);
      assert.equal(failuresOf(logs).length, 0);
    },
    10_000,
  );
});
