// Consul KV mcpmesh/policy/_mesh → control plane → real Envoy: the mesh-wide
// tracing and access-log settings arrive, a bad edit leaves them in force,
// a control-plane flag wins over the key, and deleting the key turns them off.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { COLLECTOR_CLUSTER } from '../../../control-plane/envoy/observability.js';
import { CONSUL } from '../../../lib/mesh-contracts.js';
import { type ConsulAgent, startConsul } from '../../support/consul.js';
import { configDump, dynamicClusters, type Mesh, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

let consul: ConsulAgent;
let mesh: Mesh;

before(async () => {
  consul = await startConsul();
  mesh = await startMesh({ consulUrl: consul.url, discoverTools: false, observability: { accessLog: { sampling: 50 } } });
});
after(async () => {
  await mesh?.stop();
  await consul?.stop();
});

/**
 * The listeners Envoy serves with now. A listener the control plane removed
 * (below 100% sampling, the traced internal listener of trace-split.ts) stays
 * in the dump in its draining state for Envoy's drain time, taking no new
 * requests: what is in force is the active state.
 */
async function hcm(): Promise<string> {
  const dump = (await configDump(mesh.adminUrl)).find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump');
  const listeners = (dump?.['dynamic_listeners'] ?? []) as Array<{ active_state?: unknown }>;
  return JSON.stringify(listeners.map((l) => l.active_state ?? null));
}

test('the _mesh key configures Envoy: tracer, collector cluster, access log; a bad edit changes nothing; deleting it turns both off', async () => {
  await consul.api('PUT', `/v1/kv/${CONSUL.meshKey}`, {
    tracing: { collector: 'http://127.0.0.1:4318', sampling: 5 },
    accessLog: { path: '/dev/null' },
  });
  await until(async () => (await hcm()).includes('envoy.tracers.opentelemetry'), 'Envoy has the tracer from KV', 20_000);
  const listener = await hcm();
  assert.ok(listener.includes('http://127.0.0.1:4318/v1/traces'));
  assert.ok(listener.includes('/dev/null') && listener.includes('%UPSTREAM_REQUEST_ATTEMPT_COUNT%'), 'the access log from KV');
  assert.ok(listener.includes('"numerator":500000'), 'the flag (50%) wins over the key for the access-log sampling');
  assert.ok((await dynamicClusters(mesh.adminUrl)).some((c) => c['name'] === COLLECTOR_CLUSTER));

  await consul.api('PUT', `/v1/kv/${CONSUL.meshKey}`, { tracing: { sampling: 'lots' } });
  await until(
    async () => (await mesh.metrics.registry.getSingleMetricAsString('mcpmesh_source_rejected_total')).includes('server="_mesh"'),
    'the bad edit rejected',
    10_000,
  );
  assert.ok((await hcm()).includes('envoy.tracers.opentelemetry'), 'the last good settings stay in force');

  await consul.api('DELETE', `/v1/kv/${CONSUL.meshKey}`);
  await until(async () => !(await hcm()).includes('envoy.tracers.opentelemetry'), 'the tracer gone', 20_000);
  await until(
    async () => !(await dynamicClusters(mesh.adminUrl)).some((c) => c['name'] === COLLECTOR_CLUSTER),
    'the collector cluster gone',
    20_000,
  );
  assert.ok(!(await hcm()).includes('/dev/null'), 'no access log without a path');
});
