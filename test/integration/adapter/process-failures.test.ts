// Show 3 (adapter half) and the failure classes: a process that dies or hangs
// mid-call answers with the documented retryable (or not) HTTP answer, is
// restarted with backoff, and the adapter keeps serving; timeouts and overload
// get their own answers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { type FixtureAdapterOptions, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

const FAST_RESTART = { backoff: { baseMs: 50, maxMs: 500, jitter: 0.5 } };

interface Answer {
  readonly status: number;
  readonly retryable: string | null;
  readonly body: { result?: { content?: Array<{ text?: string }> }; error?: { code: number; message: string } };
}

let nextId = 1;
async function call(adapter: AdapterHandle, name: string, args: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(adapter.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: {
        name,
        arguments: args,
        _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
      },
    }),
  });
  return { status: res.status, retryable: res.headers.get('x-mcpmesh-retryable'), body: (await res.json()) as Answer['body'] };
}

async function pid(adapter: AdapterHandle): Promise<string> {
  const a = await call(adapter, 'whoami', {});
  return firstText(a.body.result);
}

/** The sum of the samples of a metric whose labels include `labels`. */
async function metric(adapter: AdapterHandle, name: string, labels: string): Promise<number> {
  const text = await adapter.metrics.registry.getSingleMetricAsString(name);
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function withAdapter(opts: FixtureAdapterOptions, fn: (a: AdapterHandle) => Promise<void>): Promise<void> {
  const adapter = await startFixtureAdapter({ poolMin: 1, ...FAST_RESTART, ...opts });
  try {
    await fn(adapter);
  } finally {
    await adapter.shutdown();
  }
}

describe('a process that dies mid-call', () => {
  test('with another call in flight: each is replayed alone on a quarantine process, the other is answered, the killer gets 422', async () => {
    await withAdapter({}, async (adapter) => {
      const before = await pid(adapter);
      const bystander = call(adapter, 'slow', { ms: 1_000 });
      await new Promise((r) => setTimeout(r, 50));
      const crashed = await call(adapter, 'crash', { afterMs: 30 });
      assert.deepEqual([crashed.status, crashed.retryable], [422, null]);
      assert.equal(crashed.body.error?.code, -32603);
      assert.match(crashed.body.error!.message, /query of death.*exited with code 7.*in flight when a process failed before/);
      const other = await bystander;
      assert.equal(other.status, 200, JSON.stringify(other.body));
      assert.match(firstText(other.body.result), /slept 1000/);
      await until(() => adapter.ready(), 'the process restarted');
      assert.notEqual(await pid(adapter), before);
      assert.equal(await metric(adapter, 'mcpmesh_adapter_process_restarts_total', 'reason="crash"'), 1, 'the pool lost one process');
      assert.equal(await metric(adapter, 'mcpmesh_adapter_crash_replays_total', 'result="answered"'), 1);
      assert.equal(await metric(adapter, 'mcpmesh_adapter_crash_replays_total', 'result="poisoned"'), 1);
    });
  });

  test('a replay-safe call answered before is excused: 503 + x-mcpmesh-retryable, for Envoy to replay elsewhere', async () => {
    await withAdapter({}, async (adapter) => {
      assert.equal((await call(adapter, 'slow', { ms: 1_500 })).status, 200);
      const bystander = call(adapter, 'slow', { ms: 1_500 });
      await new Promise((r) => setTimeout(r, 50));
      const crashed = await call(adapter, 'crash', { afterMs: 30 });
      assert.equal(crashed.status, 422, 'the one suspect, replayed alone, kills again');
      const other = await bystander;
      assert.deepEqual([other.status, other.retryable], [503, 'true'], 'the excused call ends retryable');
      assert.equal(other.body.error?.code, -32603);
      assert.match(other.body.error!.message, /exited with code 7/);
      await until(() => adapter.ready(), 'the process restarted');
      assert.equal(await metric(adapter, 'mcpmesh_adapter_calls_total', 'outcome="crashed",retryable="true"'), 1);
    });
  });

  test('a call that may have run and is not idempotent gets 503 without the retryable marker, and is not replayed', async () => {
    await withAdapter({}, async (adapter) => {
      assert.equal((await call(adapter, 'slow', { ms: 1_500 })).status, 200);
      const bystander = call(adapter, 'slow', { ms: 1_500 });
      await new Promise((r) => setTimeout(r, 50));
      const crashed = await call(adapter, 'crash_unsafe', { afterMs: 30 });
      assert.equal(crashed.status, 503);
      assert.equal(crashed.retryable, null);
      assert.deepEqual([(await bystander).status, (await bystander).retryable], [503, 'true']);
      assert.equal(await metric(adapter, 'mcpmesh_adapter_crash_replays_total', ''), 0);
      await until(() => adapter.ready(), 'the process restarted');
      assert.equal((await call(adapter, 'echo', { text: 'still here' })).status, 200);
    });
  });

  test('a server that crashes on every third call keeps being restarted and the adapter keeps serving', async () => {
    await withAdapter({ fixtureArgs: ['--crash-after', '3'] }, async (adapter) => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        await until(() => adapter.ready(), 'a ready process');
        statuses.push((await call(adapter, 'echo', { text: `n${i}` })).status);
      }
      // Each third call was alone on its process when it died: a query of death (422, never retried elsewhere).
      assert.deepEqual(statuses, [200, 200, 422, 200, 200, 422]);
      assert.equal(await metric(adapter, 'mcpmesh_adapter_process_restarts_total', 'reason="crash"'), 2);
    });
  });
});

test('a hung process is found by its pings, killed, answered as a query of death (alone in flight) and restarted', async () => {
  await withAdapter({ pingIntervalMs: 100, pingTimeoutMs: 100, pingMisses: 2 }, async (adapter) => {
    const before = await pid(adapter);
    const started = performance.now();
    const hung = await call(adapter, 'hang', {});
    assert.deepEqual([hung.status, hung.retryable], [422, null]);
    assert.match(hung.body.error!.message, /hung.*only call in flight/);
    assert.ok(performance.now() - started < 3_000);
    await until(() => adapter.ready(), 'the process restarted');
    assert.notEqual(await pid(adapter), before);
    assert.equal(await metric(adapter, 'mcpmesh_adapter_process_restarts_total', 'reason="hang"'), 1);
  });
});

test("the adapter's call timeout answers 504 (not retryable) and cancels the call on the process", async () => {
  await withAdapter({ callTimeoutMs: 200 }, async (adapter) => {
    const slow = await call(adapter, 'slow', { ms: 2_000 });
    assert.deepEqual([slow.status, slow.retryable], [504, null]);
    assert.match(slow.body.error!.message, /timed out/);
    assert.equal(firstText((await call(adapter, 'cancellations', {})).body.result), '1');
    assert.equal(await metric(adapter, 'mcpmesh_adapter_calls_total', 'outcome="timeout",retryable="false"'), 1);
  });
});

test('overload: with every process busy and the queue full, calls are answered 503 + retryable at once', async () => {
  await withAdapter({ maxInFlightPerProcess: 1, maxQueue: 1 }, async (adapter) => {
    const answers = await Promise.all([
      call(adapter, 'slow', { ms: 300 }),
      call(adapter, 'slow', { ms: 300 }),
      call(adapter, 'slow', { ms: 300 }),
    ]);
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 503]);
    const refused = answers.find((a) => a.status === 503)!;
    assert.equal(refused.retryable, 'true');
    assert.match(refused.body.error!.message, /overloaded/);
    assert.equal(await metric(adapter, 'mcpmesh_adapter_calls_total', 'outcome="overload",retryable="true"'), 1);
  });
});

test("a tool error and a JSON-RPC error are the server's own answers: 200, never marked retryable", async () => {
  await withAdapter({}, async (adapter) => {
    const toolError = await call(adapter, 'fail', {});
    assert.deepEqual([toolError.status, toolError.retryable], [200, null]);
    const rpcError = await call(adapter, 'no-such-tool', {});
    assert.deepEqual([rpcError.status, rpcError.retryable], [200, null]);
    assert.ok(rpcError.body.error);
    assert.equal(await metric(adapter, 'mcpmesh_adapter_calls_total', 'outcome="tool_error"'), 1);
    assert.equal(await metric(adapter, 'mcpmesh_adapter_calls_total', 'outcome="jsonrpc_error"'), 1);
  });
});
