import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshSettingsSchema, resolveObservability } from '../../../control-plane/catalog/mesh-schema.js';
import { buildTracedListener } from '../../../control-plane/envoy/listener.js';
import { COLLECTOR_CLUSTER } from '../../../control-plane/envoy/observability.js';
import { TRACED_HOP_CLUSTER } from '../../../control-plane/envoy/trace-split.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { meshEntry, policyEntries } from '../../../control-plane/sources/consul-translation.js';
import { decodeAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { CONSUL } from '../../../lib/mesh-contracts.js';

test('flags win over the source field by field; without a collector or a log path that part is off', () => {
  const source = { tracing: { collector: 'http://jaeger:4318/', sampling: 5 }, accessLog: { path: 'stdout', sampling: 10 } };
  assert.deepEqual(resolveObservability(source, {}), {
    tracing: { collector: 'http://jaeger:4318', sampling: 5, serviceName: 'mcpmesh-envoy', upstreamSpans: true },
    accessLog: { path: 'stdout', sampling: 10 },
  });
  assert.deepEqual(resolveObservability(source, { tracing: { sampling: 100 }, accessLog: { path: 'off' } }), {
    tracing: { collector: 'http://jaeger:4318', sampling: 100, serviceName: 'mcpmesh-envoy', upstreamSpans: true },
    accessLog: undefined,
  });
  assert.deepEqual(resolveObservability(undefined, { tracing: { sampling: 50 } }), { tracing: undefined, accessLog: undefined });
  assert.equal(resolveObservability(undefined, { tracing: { collector: 'http://127.0.0.1:4318' } }).tracing?.sampling, 1);
});

test("Envoy's span per try upstream: on unless the settings turn it off", () => {
  const spawn = (tracing: Record<string, unknown>) => {
    const observability = resolveObservability(
      MeshSettingsSchema.parse({ tracing: { collector: 'http://127.0.0.1:4318', ...tracing } }),
      {},
    );
    // At 1% (the default) the tracer is on the traced internal listener (trace-split.test.ts).
    const hcm = (
      buildTracedListener({ address: '127.0.0.1', port: 10000, observability }) as {
        filter_chains: { filters: { typed_config: { tracing: { spawn_upstream_span: { value: boolean } } } }[] }[];
      }
    ).filter_chains[0]!.filters[0]!.typed_config;
    return hcm.tracing.spawn_upstream_span.value;
  };
  assert.equal(spawn({}), true);
  assert.equal(spawn({ upstreamSpans: true }), true);
  assert.equal(spawn({ upstreamSpans: false }), false);
  assert.equal(MeshSettingsSchema.safeParse({ tracing: { upstreamSpans: 'no' } }).success, false);
});

test('the schema refuses what Envoy could not use', () => {
  assert.equal(MeshSettingsSchema.safeParse({ tracing: { collector: 'grpc://x:4317' } }).success, false);
  assert.equal(MeshSettingsSchema.safeParse({ tracing: { sampling: 101 } }).success, false);
  assert.equal(MeshSettingsSchema.safeParse({ accessLog: { path: 'relative.log' } }).success, false);
  assert.equal(MeshSettingsSchema.safeParse({ tracing: { colector: 'http://x' } }).success, false);
});

test('tracing on: the traced listener has the OpenTelemetry tracer, CDS the collector cluster, and the snapshot holds together', () => {
  const observability = resolveObservability(
    { tracing: { collector: 'http://127.0.0.1:4318' }, accessLog: { path: '/var/log/mcp.json', sampling: 0.5 } },
    {},
  );
  const hcm = (
    buildTracedListener({ address: '127.0.0.1', port: 10000, observability }) as {
      filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[];
    }
  ).filter_chains[0]!.filters[0]!.typed_config;
  const tracing = hcm['tracing'] as {
    random_sampling: { value: number };
    provider: { typed_config: { http_service: { http_uri: { uri: string; cluster: string } } } };
  };
  assert.equal(tracing.random_sampling.value, 1);
  assert.equal(tracing.provider.typed_config.http_service.http_uri.uri, 'http://127.0.0.1:4318/v1/traces');
  assert.equal(tracing.provider.typed_config.http_service.http_uri.cluster, COLLECTOR_CLUSTER);
  const log = (hcm['access_log'] as { filter: { runtime_filter: { percent_sampled: { numerator: number; denominator: string } } } }[])[0]!;
  assert.deepEqual(log.filter.runtime_filter.percent_sampled, { numerator: 5000, denominator: 'MILLION' });

  const snapshot = buildSnapshot({ servers: [] }, { address: '127.0.0.1', port: 10000, observability });
  const clusters = [...(snapshot.get(TYPE.cluster)?.resources.values() ?? [])];
  assert.deepEqual(
    clusters.map((c) => c.name),
    [COLLECTOR_CLUSTER, TRACED_HOP_CLUSTER],
  );
  const decoded = decodeAny(clusters[0]!.any) as unknown as Record<string, unknown>;
  assert.ok(JSON.stringify(decoded).includes('4318'));
  const text = JSON.stringify([...snapshot.get(TYPE.listener)!.resources.values()].map((l) => decodeAny(l.any)));
  assert.ok(
    text.includes('/v1/traces') && text.includes('%UPSTREAM_REQUEST_ATTEMPT_COUNT%') && text.includes('/var/log/mcp.json'),
    'the encoding keeps the tracer and the log',
  );

  const off = buildSnapshot({ servers: [] }, { address: '127.0.0.1', port: 10000, observability: resolveObservability(undefined, {}) });
  assert.equal(off.get(TYPE.cluster)?.resources.size ?? 0, 0);
  assert.ok(!JSON.stringify(decodeAny([...off.get(TYPE.listener)!.resources.values()][0]!.any)).includes('tracing'));
});

function kv(key: string, value: unknown): { Key: string; Value: string; ModifyIndex: number } {
  return { Key: key, Value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64'), ModifyIndex: 1 };
}

test('Consul: mcpmesh/policy/_mesh holds the mesh settings and is not a server policy', () => {
  const body = [
    kv(CONSUL.meshKey, { tracing: { collector: 'http://otel:4318', sampling: 2 } }),
    kv(`${CONSUL.policyPrefix}search`, { timeout: '5s' }),
  ];
  assert.deepEqual(meshEntry(body), { settings: { tracing: { collector: 'http://otel:4318', sampling: 2 } } });
  assert.deepEqual(
    policyEntries(body).map((e) => e.server),
    ['search'],
  );
  assert.deepEqual(meshEntry([kv(`${CONSUL.policyPrefix}search`, {})]), { settings: undefined });
  const bad = meshEntry([kv(CONSUL.meshKey, { tracing: { sampling: 500 } })]);
  assert.ok('error' in bad && bad.error.includes('tracing.sampling'), JSON.stringify(bad));
  assert.ok('error' in meshEntry([kv(CONSUL.meshKey, 'not json')]));
});
