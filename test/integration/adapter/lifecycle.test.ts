// `mcpmesh adapter` as its own process: SIGTERM under load drains (not ready at
// once, calls in flight finish, late calls are refused retryable) and leaves
// no child process; SIGKILL of the adapter still takes every server process
// down; health endpoints and the CLI's usage errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { type AdapterProcess, groupAlive, RUN_ADAPTER, startAdapterProcess } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

function startCli(pool: number, args: string[]): Promise<AdapterProcess> {
  return startAdapterProcess('life', pool, args);
}

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'slow',
};
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

type Outcome = { kind: 'ok'; text: string } | { kind: 'retryable' } | { kind: 'refused' } | { kind: 'failed'; detail: string };

async function slowCall(url: string, ms: number): Promise<Outcome> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: { ms }, _meta: META } }),
    });
    const text = await res.text();
    if (res.status === 200 && text.includes('slept')) return { kind: 'ok', text };
    if (res.status === 503 && res.headers.get('x-mcpmesh-retryable') === 'true') return { kind: 'retryable' };
    return { kind: 'failed', detail: `${res.status} ${text.slice(0, 200)}` };
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    return code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'failed', detail: `${code ?? ''} ${(err as Error).message}` };
  }
}

/** Server pids: concurrent slow calls land on every process of the pool. */
async function serverPids(url: string, pool: number): Promise<number[]> {
  const answers = await Promise.all(Array.from({ length: pool * 2 }, () => slowCall(url, 100)));
  const pids = new Set(answers.map((a) => (a.kind === 'ok' ? Number(/ in (\d+)/.exec(a.text)![1]) : NaN)));
  assert.equal(pids.size, pool);
  return [...pids];
}

test('SIGTERM under load: ready turns false at once, calls in flight finish, no process is left behind', async (t) => {
  const running = await startCli(2, ['--drain-timeout', '5s']);
  t.after(() => running.child.kill('SIGKILL'));
  const pids = await serverPids(running.url, 2);
  const outcomes: Outcome[] = [];
  let stop = false;
  const deadline = performance.now() + 15_000;
  // Like Envoy, a client stops sending to a replica that refused it.
  const workers = Array.from({ length: 6 }, async () => {
    while (!stop && performance.now() < deadline) {
      const o = await slowCall(running.url, 150);
      outcomes.push(o);
      if (o.kind !== 'ok') return;
    }
  });
  await new Promise((r) => setTimeout(r, 400));
  const okBefore = outcomes.filter((o) => o.kind === 'ok').length;
  running.child.kill('SIGTERM');
  await until(
    async () => (await fetch(running.url.replace(/\/mcp$/, '/readyz')).catch(() => undefined))?.status !== 200,
    'not ready',
    1_000,
  );
  const code = await running.exited;
  stop = true;
  await Promise.all(workers);
  assert.equal(code, 0, running.stderr());
  assert.ok(okBefore > 0);
  const failed = outcomes.filter((o) => o.kind === 'failed');
  assert.deepEqual(failed, [], 'every call either succeeded or was refused in a way Envoy retries');
  assert.ok(outcomes.filter((o) => o.kind === 'ok').length > okBefore, 'calls in flight at SIGTERM finished');
  for (const pid of pids) assert.equal(groupAlive(pid), false, `server process group ${pid} is gone`);
});

test('SIGKILL of the adapter still takes every server process group down', async (t) => {
  const running = await startCli(3, []);
  t.after(() => running.child.kill('SIGKILL'));
  const pids = await serverPids(running.url, 3);
  for (const pid of pids) assert.ok(groupAlive(pid));
  running.child.kill('SIGKILL');
  await running.exited;
  await until(() => pids.every((pid) => !groupAlive(pid)), 'the server process groups gone', 5_000);
});

test('health endpoints and metrics over HTTP', async (t) => {
  const running = await startCli(1, []);
  t.after(() => running.child.kill('SIGKILL'));
  const base = running.url.replace(/\/mcp$/, '');
  const health = await fetch(`${base}/healthz`);
  assert.deepEqual([health.status, await health.text()], [200, 'ok\n']);
  const ready = await fetch(`${base}/readyz`);
  assert.deepEqual([ready.status, await ready.text()], [200, 'ready\n']);
  await slowCall(running.url, 1);
  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  for (const name of [
    'mcpmesh_adapter_calls_total',
    'mcpmesh_adapter_call_duration_seconds_bucket',
    'mcpmesh_adapter_calls_in_flight',
    'mcpmesh_adapter_pool_processes',
    'mcpmesh_adapter_ready',
    'mcpmesh_adapter_process_restarts_total',
  ]) {
    assert.ok(text.includes(name), name);
  }
  assert.match(text, /mcpmesh_adapter_calls_total\{server="life",method="tools\/call",tool="slow",outcome="ok",retryable="false"\} 1/);
  running.child.kill('SIGTERM');
  assert.equal(await running.exited, 0);
});

test('usage errors exit 2 with a clear message; --help exits 0', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [RUN_ADAPTER, ...args], { encoding: 'utf8', env: { ...process.env, MCPMESH_LOG_LEVEL: 'silent' } });
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: mcpmesh adapter --name NAME \[options\] -- COMMAND \[ARGS\.\.\.\]/);
  assert.match(help.stdout, /--pool-max/);
  const cases: Array<[string[], RegExp]> = [
    [['--', 'x'], /--name is required/],
    [['--name', 'a'], /the server command is missing/],
    [['--name', 'a', '--queue-timeout', 'soon', '--', 'x'], /--queue-timeout must be a duration/],
    [['--name', 'a', '--pool', '3', '--pool-max', '2', '--', 'x'], /--pool-max \(2\) must be at least --pool \(3\)/],
    [['--name', 'a', '--pool', '0', '--', 'x'], /--pool must be within 1\.\.256/],
    [['--name', 'a', '--client-capabilities', 'telepathy', '--', 'x'], /unknown capability "telepathy"/],
    [['--name', 'a', '--bogus', '--', 'x'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
