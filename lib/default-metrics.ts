// prom-client's default process and Node.js metrics under their standard names
// (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_heap_*,
// nodejs_eventloop_lag_*, ...: what stock Node.js dashboards query), on the
// control plane and on every adapter.
//
// Less three: nodejs_active_{handles,requests,resources}_total are gauges
// whose `_total` suffix promtool rejects ("non-counter metrics should not have
// _total suffix"). Each is the sum of its per-type series
// nodejs_active_{handles,requests,resources}{type}, which stay.
import { collectDefaultMetrics, type Registry } from 'prom-client';

export const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

export function collectStandardDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
