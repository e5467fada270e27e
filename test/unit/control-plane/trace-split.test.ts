// The split tracing (control-plane/envoy/trace-split.ts): below 100% the
// listener agents reach does not trace and sends the requests to be traced
// to the traced internal listener; at 100% and off, one listener as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { resolveObservability } from '../../../control-plane/catalog/mesh-schema.js';
import { buildListener, buildTracedListener, LISTENER_NAME } from '../../../control-plane/envoy/listener.js';
import { COLLECTOR_CLUSTER } from '../../../control-plane/envoy/observability.js';
import { ROUTE_CONFIG_NAME, TRACED_ROUTE_CONFIG_NAME } from '../../../control-plane/envoy/routes.js';
import {
  SAMPLED_TRACEPARENT_REGEX,
  TRACED_HOP_CLUSTER,
  TRACED_LISTENER_NAME,
  tracedHopRoutes,
} from '../../../control-plane/envoy/trace-split.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { decodeAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { UNTRACED_TRACEPARENT } from '../../../lib/mesh-contracts.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, unknown>;

const observabilityAt = (sampling: number) =>
  resolveObservability({ tracing: { collector: 'http://127.0.0.1:4318', sampling }, accessLog: { path: '/var/log/mcp.json' } }, {});

function hcm(listener: object): Json {
  return (listener as { filter_chains: { filters: { typed_config: Json }[] }[] }).filter_chains[0]!.filters[0]!.typed_config;
}

function snapshotAt(sampling: number | undefined) {
  const catalog = { servers: [] };
  const observability = sampling === undefined ? resolveObservability(undefined, {}) : observabilityAt(sampling);
  return buildSnapshot(catalog, { address: '127.0.0.1', port: 10000, observability });
}

const names = (s: ReturnType<typeof snapshotAt>, type: (typeof TYPE)[keyof typeof TYPE]) =>
  [...(s.get(type)?.resources.keys() ?? [])].sort();

test("below 100%: the edge has no tracer; the traced internal listener has it, the edge's filters and its own routes", () => {
  const opts = { address: '127.0.0.1', port: 10000, observability: observabilityAt(1) };
  const edge = hcm(buildListener(opts));
  assert.equal(edge['tracing'], undefined);
  assert.deepEqual(edge['use_remote_address'], { value: true });
  assert.equal((edge['rds'] as { route_config_name: string }).route_config_name, ROUTE_CONFIG_NAME);
  const strip = JSON.stringify((edge['http_filters'] as object[])[0]);
  assert.ok(strip.includes('x-client-trace-id') && strip.includes(UNTRACED_TRACEPARENT) && strip.includes('ADD_IF_ABSENT'), strip);
  const log = (edge['access_log'] as { filter: Json }[])[0]!;
  assert.ok(JSON.stringify(log.filter).includes('invert_match'), 'the edge leaves out the lines the traced pass writes');

  const tracedListener = buildTracedListener(opts) as Json;
  assert.equal(tracedListener['name'], TRACED_LISTENER_NAME);
  assert.deepEqual(tracedListener['internal_listener'], {});
  assert.equal(tracedListener['address'], undefined);
  const traced = hcm(tracedListener);
  const tracing = traced['tracing'] as { random_sampling: { value: number }; client_sampling: { value: number } };
  assert.equal(tracing.random_sampling.value, 1, "an agent's sampled context is decided at the mesh's percentage, as before");
  assert.equal(tracing.client_sampling.value, 100, 'what the split route sampled is traced');
  assert.equal(traced['use_remote_address'], undefined, 'the edge appended the agent to X-Forwarded-For');
  assert.equal((traced['rds'] as { route_config_name: string }).route_config_name, TRACED_ROUTE_CONFIG_NAME);
  assert.ok(!JSON.stringify((traced['http_filters'] as object[])[0]).includes(UNTRACED_TRACEPARENT));
  assert.equal((traced['access_log'] as { filter?: unknown }[])[0]!.filter, undefined);
  const filterNames = (h: Json) => (h['http_filters'] as { name: string }[]).map((f) => f.name);
  assert.deepEqual(filterNames(traced), filterNames(edge));
});

test("the split routes: an agent's sampled context, and the percentage of the rest, drawn per stream; nothing per-route but the session and the route keys off", () => {
  const [agent, sampled] = tracedHopRoutes(2.5) as Json[];
  for (const r of [agent!, sampled!]) {
    assert.equal((r['route'] as { cluster: string }).cluster, TRACED_HOP_CLUSTER);
    assert.deepEqual(Object.keys(r['typed_per_filter_config'] as Json), [
      'envoy.filters.http.stateful_session',
      'envoy.filters.http.json_to_metadata',
    ]);
    assert.equal((r['route'] as Json)['retry_policy'], undefined);
  }
  const match = sampled!['match'] as { runtime_fraction: { default_value: Json }; headers: { string_match: { exact: string } }[] };
  assert.deepEqual(match.runtime_fraction.default_value, { numerator: 25_000, denominator: 'MILLION' });
  assert.equal(match.headers[0]!.string_match.exact, UNTRACED_TRACEPARENT);
  assert.deepEqual(sampled!['request_headers_to_remove'], ['traceparent']);

  // Envoy's safe_regex matches the whole value.
  const sampledBit = new RegExp(`^(?:${SAMPLED_TRACEPARENT_REGEX})$`);
  const ctx = (flags: string) => `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-${flags}`;
  for (const flags of ['01', '03', '0f', 'ff']) assert.ok(sampledBit.test(ctx(flags)), flags);
  for (const flags of ['00', '02', 'fe']) assert.ok(!sampledBit.test(ctx(flags)), flags);
  assert.ok(!sampledBit.test(UNTRACED_TRACEPARENT));
});

test('the snapshot below 100%: two listeners, two route configurations, the hop cluster; the edge routes start with the split', () => {
  const catalog = buildCatalog({ servers: new Map([['a', serverSpec('a', [9001])]]) }, new Map());
  const s = buildSnapshot(catalog, { address: '127.0.0.1', port: 10000, observability: observabilityAt(1) });
  assert.deepEqual(names(s, TYPE.listener), [LISTENER_NAME, TRACED_LISTENER_NAME].sort());
  assert.deepEqual(names(s, TYPE.route), [ROUTE_CONFIG_NAME, TRACED_ROUTE_CONFIG_NAME].sort());
  assert.deepEqual(names(s, TYPE.cluster), ['mcp_a', COLLECTOR_CLUSTER, TRACED_HOP_CLUSTER].sort());
  const routesOf = (name: string) =>
    (
      decodeAny(s.get(TYPE.route)!.resources.get(name)!.any) as unknown as {
        virtual_hosts: { routes: { name: string }[] }[];
      }
    ).virtual_hosts[0]!.routes.map((r) => r.name);
  const mesh = routesOf(TRACED_ROUTE_CONFIG_NAME);
  assert.ok(mesh.includes('a/tools-call'), JSON.stringify(mesh));
  assert.deepEqual(routesOf(ROUTE_CONFIG_NAME), ['traced/agent-context', 'traced/sampled', ...mesh]);
});

test('at 100% and with tracing off: one listener, one route configuration, no hop', () => {
  const full = snapshotAt(100);
  assert.deepEqual(names(full, TYPE.listener), [LISTENER_NAME]);
  assert.deepEqual(names(full, TYPE.route), [ROUTE_CONFIG_NAME]);
  assert.deepEqual(names(full, TYPE.cluster), [COLLECTOR_CLUSTER]);
  const edge = hcm(buildListener({ address: '127.0.0.1', port: 10000, observability: observabilityAt(100) }));
  assert.equal((edge['tracing'] as { random_sampling: { value: number } }).random_sampling.value, 100);
  assert.ok(!JSON.stringify(edge).includes(UNTRACED_TRACEPARENT));

  const off = snapshotAt(undefined);
  assert.deepEqual(names(off, TYPE.listener), [LISTENER_NAME]);
  assert.deepEqual(names(off, TYPE.route), [ROUTE_CONFIG_NAME]);
  assert.equal(off.get(TYPE.cluster)?.resources.size ?? 0, 0);
});
