// `promtool check metrics` accepts what the control plane and the adapter
// expose, default process and Node.js metrics included, under their standard
// names (not mcpmesh_process_*), as stock Node.js dashboards query them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { createAdapterMetrics } from '../../../adapter/metrics.js';
import { createControlPlaneMetrics } from '../../../control-plane/metrics.js';

function promtool(text: string) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'promtool is not installed: run scripts/setup.sh prometheus (Debian package prometheus)');
  return r;
}

function standardNames(text: string): void {
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_version_info',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^nodejs_active_handles\{type=/m, 'per-type handles stay');
  assert.doesNotMatch(text, /mcpmesh_process_/);
  assert.doesNotMatch(
    text,
    /^nodejs_active_(handles|requests|resources)_total/m,
    'gauges named _total, which promtool rejects, are dropped',
  );
}

describe('promtool check metrics', () => {
  test('the control plane', async () => {
    const m = createControlPlaneMetrics();
    m.pushes.inc({ type: 'clusters', variant: 'sotw' });
    m.convergence.observe(0.01);
    m.replicas.set({ health: 'healthy' }, 2);
    const text = await m.registry.metrics();
    standardNames(text);
    const r = promtool(text);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('the adapter', async () => {
    const m = createAdapterMetrics('demo');
    m.recordCall('tools/call', 'echo', 'ok', false, 0.01);
    m.recordCall('tools/call', 'echo', 'tool_error', false, 0.02);
    m.restart('crashed');
    const text = await m.registry.metrics();
    standardNames(text);
    assert.match(text, /^mcpmesh_adapter_calls_total\{/m);
    const r = promtool(text);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
