import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAdapterMetrics } from '../../../adapter/metrics.js';

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('calls are counted by method, tool, outcome and retryable, with a latency histogram', async () => {
  const m = createAdapterMetrics('srv');
  m.recordCall('tools/call', 'echo', 'ok', false, 0.0007);
  m.recordCall('tools/call', 'echo', 'ok', false, 0.3);
  m.recordCall('tools/call', 'echo', 'crashed', true, 0.02);
  const text = await m.registry.metrics();
  assert.equal(sample(text, 'mcpmesh_adapter_calls_total', 'tool="echo",outcome="ok",retryable="false"'), 2);
  assert.equal(sample(text, 'mcpmesh_adapter_calls_total', 'outcome="crashed",retryable="true"'), 1);
  assert.equal(sample(text, 'mcpmesh_adapter_call_duration_seconds_bucket', 'outcome="ok",le="0.001"'), 1);
  assert.equal(sample(text, 'mcpmesh_adapter_call_duration_seconds_bucket', 'outcome="ok",le="0.5"'), 2);
  assert.equal(sample(text, 'mcpmesh_adapter_call_duration_seconds_bucket', 'outcome="ok",le="+Inf"'), 2);
  assert.equal(sample(text, 'mcpmesh_adapter_call_duration_seconds_count', 'outcome="ok"'), 2);
  assert.ok(Math.abs(sample(text, 'mcpmesh_adapter_call_duration_seconds_sum', 'outcome="ok"')! - 0.3007) < 1e-9);
  assert.match(text, /# TYPE mcpmesh_adapter_call_duration_seconds histogram/);
});

test('client-chosen label values are bounded: unknown methods and tools beyond 256 names', async () => {
  const m = createAdapterMetrics('srv');
  for (let i = 0; i < 300; i++) m.recordCall('tools/call', `tool-${i}`, 'ok', false, 0.001);
  m.recordCall('x/made-up', undefined, 'jsonrpc_error', false, 0.001);
  const text = await m.registry.metrics();
  const toolSeries = new Set(
    text
      .split('\n')
      .filter((l) => l.startsWith('mcpmesh_adapter_calls_total{'))
      .map((l) => /tool="([^"]*)"/.exec(l)?.[1]),
  );
  assert.equal(toolSeries.size, 256 + 2); // 256 names, "_other", and "" of the made-up method
  assert.equal(sample(text, 'mcpmesh_adapter_calls_total', 'tool="_other"'), 300 - 256);
  assert.equal(sample(text, 'mcpmesh_adapter_calls_total', 'method="_other"'), 1);
});

test('pool gauges are read from the pool at scrape time', async () => {
  const m = createAdapterMetrics('srv');
  m.attachPool({
    inFlight: () => 3,
    queueDepth: () => 1,
    processes: () => ({ starting: 1, ready: 2, backoff: 0, stopping: 0 }),
    ready: () => true,
    sessions: () => 4,
    bounds: () => ({ min: 2, max: 5 }),
  });
  m.restart('crash');
  m.rejected('origin');
  const text = await m.registry.metrics();
  assert.equal(sample(text, 'mcpmesh_adapter_calls_in_flight', 'server="srv"'), 3);
  assert.equal(sample(text, 'mcpmesh_adapter_queue_depth', 'server="srv"'), 1);
  assert.equal(sample(text, 'mcpmesh_adapter_pool_processes', 'state="ready"'), 2);
  assert.equal(sample(text, 'mcpmesh_adapter_pool_size_bounds', 'bound="max"'), 5);
  assert.equal(sample(text, 'mcpmesh_adapter_ready', 'server="srv"'), 1);
  assert.equal(sample(text, 'mcpmesh_adapter_sessions', 'server="srv"'), 4);
  assert.equal(sample(text, 'mcpmesh_adapter_process_restarts_total', 'reason="crash"'), 1);
  assert.equal(sample(text, 'mcpmesh_adapter_rejected_requests_total', 'reason="origin"'), 1);
});
