// The console's data: Envoy's /clusters read per host, Prometheus text parsed,
// rates and p99 from the adapters' counters (resets and new series included),
// the status rules, and the Prometheus path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdminBackend, ReplicaView, ServerView } from '../../../control-plane/admin/admin-backend.js';
import {
  AdapterTraffic,
  ConsoleData,
  histogramQuantile,
  parseEnvoyClusters,
  parsePrometheusText,
  replicaStatus,
  type Sample,
} from '../../../control-plane/admin/console-data.js';
import { resolvePolicy } from '../../../control-plane/catalog/policy-resolution.js';

const clusters = {
  cluster_statuses: [
    {
      name: 'mcp_demo',
      host_statuses: [
        { address: { socket_address: { address: '127.0.0.1', port_value: 1 } }, health_status: { eds_health_status: 'HEALTHY' } },
        {
          address: { socket_address: { address: '127.0.0.1', port_value: 2 } },
          health_status: { eds_health_status: 'HEALTHY', failed_outlier_check: true },
        },
        {
          address: { socket_address: { address: '127.0.0.1', port_value: 3 } },
          health_status: { eds_health_status: 'HEALTHY', failed_active_health_check: true },
        },
        { address: { socket_address: { address: '127.0.0.1', port_value: 4 } }, health_status: { eds_health_status: 'DRAINING' } },
      ],
    },
    {
      name: 'xds_cluster',
      host_statuses: [
        { address: { socket_address: { address: '127.0.0.1', port_value: 18000 } }, health_status: { eds_health_status: 'HEALTHY' } },
      ],
    },
  ],
};

const replica = (port: number, extra: Partial<ReplicaView> = {}): ReplicaView => ({
  id: `127.0.0.1:${port}`,
  address: `127.0.0.1:${port}`,
  health: 'healthy',
  weight: 1,
  drained: false,
  ...extra,
});

describe('console data', () => {
  test("Envoy's view per host of the mcp_ clusters", () => {
    const hosts = parseEnvoyClusters(clusters);
    assert.deepEqual([...hosts.keys()], ['demo|127.0.0.1:1', 'demo|127.0.0.1:2', 'demo|127.0.0.1:3', 'demo|127.0.0.1:4']);
    assert.deepEqual(hosts.get('demo|127.0.0.1:1'), { healthy: true, flags: [] });
    assert.deepEqual(hosts.get('demo|127.0.0.1:2'), { healthy: false, flags: ['failed_outlier_check'] });
    assert.deepEqual(hosts.get('demo|127.0.0.1:4'), { healthy: false, flags: ['eds_draining'] });
  });

  test('status: drained, then ejected, then failing a health check, then the source, then the adapter itself', () => {
    const envoy = new Map([['http://e:9901', parseEnvoyClusters(clusters)]]);
    assert.equal(replicaStatus('demo', replica(1), envoy, undefined).status, 'healthy');
    assert.equal(replicaStatus('demo', replica(2, { drained: true }), envoy, undefined).status, 'drained');
    const ejected = replicaStatus('demo', replica(2), envoy, undefined);
    assert.equal(ejected.status, 'ejected');
    assert.equal(ejected.ejected, true);
    assert.equal(replicaStatus('demo', replica(3), envoy, undefined).status, 'unhealthy');
    assert.deepEqual(replicaStatus('demo', replica(9), envoy, undefined).envoy, [
      { envoy: 'http://e:9901', healthy: false, flags: ['not_in_cluster'] },
    ]);
    assert.equal(replicaStatus('demo', replica(1, { health: 'degraded' }), envoy, undefined).status, 'degraded');
    // Without an Envoy view: the source's health, and the adapter's own account.
    const none = new Map();
    assert.equal(replicaStatus('demo', replica(1), none, new Error('connect ECONNREFUSED')).status, 'unhealthy');
    assert.equal(replicaStatus('demo', replica(1), none, [{ name: 'mcpmesh_adapter_ready', labels: {}, value: 0 }]).status, 'unhealthy');
    const ready = replicaStatus('demo', replica(1), none, [{ name: 'mcpmesh_adapter_ready', labels: {}, value: 1 }]);
    assert.equal(ready.status, 'healthy');
    assert.equal(ready.adapterReady, true);
  });

  test('Prometheus text and histogram quantiles', () => {
    const s = parsePrometheusText('# HELP x y\nx_total{a="1",b="q\\"uote"} 3\ny 4.5\n\nz{le="+Inf"} 7\n');
    assert.deepEqual(s, [
      { name: 'x_total', labels: { a: '1', b: 'q"uote' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
      { name: 'z', labels: { le: '+Inf' }, value: 7 },
    ]);
    assert.equal(histogramQuantile(0.99, []), undefined);
    assert.ok(
      Math.abs(
        histogramQuantile(0.5, [
          [0.1, 0],
          [0.2, 10],
          [Infinity, 10],
        ])! - 0.15,
      ) < 1e-12,
      'interpolated within its bucket',
    );
    assert.equal(
      histogramQuantile(0.99, [
        [0.1, 0],
        [Infinity, 10],
      ]),
      0.1,
      'in the +Inf bucket: the highest finite bound',
    );
  });

  test('rates from the adapters: a baseline first, new series count whole, a reset is a restart', () => {
    const t = new AdapterTraffic(10_000);
    const calls = (tool: string, outcome: string, v: number): Sample => ({
      name: 'mcpmesh_adapter_calls_total',
      labels: { server: 'demo', method: 'tools/call', tool, outcome, retryable: 'false' },
      value: v,
    });
    const bucket = (le: string, v: number): Sample => ({
      name: 'mcpmesh_adapter_call_duration_seconds_bucket',
      labels: { server: 'demo', method: 'tools/call', tool: 'echo', outcome: 'ok', le },
      value: v,
    });
    t.add(0, new Map([['a:1', [calls('echo', 'ok', 100)]]]));
    assert.deepEqual(t.stats(), { windowSeconds: 0, tools: [] });
    t.add(
      1000,
      new Map([
        ['a:1', [calls('echo', 'ok', 110), calls('echo', 'tool_error', 2), bucket('0.01', 5), bucket('0.1', 10), bucket('+Inf', 10)]],
        ['b:1', [calls('echo', 'ok', 5)]],
      ]),
    );
    // a:1 adds 10 ok and 2 errors (a new series since the last scrape); b:1 is seen for the first time: a baseline.
    const [echo] = t.stats().tools;
    assert.deepEqual(
      { ...echo, p99Seconds: undefined },
      { server: 'demo', tool: 'echo', callsPerSecond: 12, errorsPerSecond: 2, p99Seconds: undefined },
    );
    // p99 of 10 calls, 5 up to 10 ms and 5 up to 100 ms: rank 9.9, interpolated in the second bucket.
    assert.ok(Math.abs(echo!.p99Seconds! - (0.01 + (0.09 * 4.9) / 5)) < 1e-12);
    t.add(
      2000,
      new Map([
        ['a:1', [calls('echo', 'ok', 3)]],
        ['b:1', [calls('echo', 'ok', 9)]],
      ]),
    );
    // a:1 restarted (110 → 3: 3 new calls), b:1 4 more.
    const s = t.stats();
    assert.equal(s.windowSeconds, 2);
    assert.equal(s.tools[0]!.callsPerSecond, (12 + 3 + 4) / 2);
  });

  test('the overview with traffic from Prometheus', async () => {
    const server: ServerView = {
      name: 'demo',
      path: '/mcp',
      agentUrlPath: '/mcp/demo',
      protocol: 'auto',
      replicas: [replica(1)],
      explicitPolicy: null,
      effectivePolicy: { policy: resolvePolicy({}), toolRoutes: [] },
    };
    const backend = {
      servers: () => [server],
      scrapeTargets: () => [],
      clients: () => [],
      source: () => ({ kind: 'file', synced: true, stale: false, lastError: undefined, lastSyncAt: 1 }),
      readiness: () => ({ ready: true, checks: {} }),
    } as unknown as AdminBackend;
    const asked: string[] = [];
    const fakeFetch = (async (url: string) => {
      asked.push(url);
      const q = new URL(url).searchParams.get('query') ?? '';
      const value = q.startsWith('histogram_quantile') ? '0.25' : q.includes('outcome!="ok"') ? '0.5' : '4';
      return new Response(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: { server: 'demo', tool: 'echo' }, value: [1, value] }] },
        }),
      );
    }) as typeof fetch;
    const data = new ConsoleData(backend, { prometheusUrl: 'http://prom:9090/', fetch: fakeFetch });
    const o = await data.overview();
    assert.deepEqual(o.traffic, {
      from: 'prometheus',
      windowSeconds: 60,
      tools: [{ server: 'demo', tool: 'echo', callsPerSecond: 4, errorsPerSecond: 0.5, p99Seconds: 0.25 }],
    });
    assert.equal(asked.length, 3);
    assert.ok(asked.every((u) => u.startsWith('http://prom:9090/api/v1/query?query=')));
    assert.equal(o.servers[0]!.replicas[0]!.status, 'healthy');
    assert.equal(await data.overview(), o, 'cached for a second');
  });

  test("mTLS adapters (__scheme__ https) are scraped over https with the mesh client certificate's fetch, or not at all without one", async () => {
    const server: ServerView = {
      name: 'demo',
      path: '/mcp',
      agentUrlPath: '/mcp/demo',
      protocol: 'auto',
      replicas: [replica(1), replica(2)],
      explicitPolicy: null,
      effectivePolicy: { policy: resolvePolicy({}), toolRoutes: [] },
    };
    const backend = {
      servers: () => [server],
      scrapeTargets: () => [
        { targets: ['127.0.0.1:1'], labels: { server: 'demo', replica: '127.0.0.1:1' } },
        { targets: ['127.0.0.1:2'], labels: { server: 'demo', replica: '127.0.0.1:2', __scheme__: 'https' } },
      ],
      clients: () => [],
      source: () => ({ kind: 'file', synced: true, stale: false, lastError: undefined, lastSyncAt: 1 }),
      readiness: () => ({ ready: true, checks: {} }),
    } as unknown as AdminBackend;
    const plain: string[] = [];
    const tls: string[] = [];
    const answer = () => new Response('mcpmesh_adapter_ready 1\n');
    const fetchPlain = (async (url: string) => {
      plain.push(url);
      return answer();
    }) as typeof fetch;
    const fetchTls = async (url: string | URL) => {
      tls.push(String(url));
      return answer();
    };
    await new ConsoleData(backend, { fetch: fetchPlain, adapterTlsFetch: fetchTls }).overview();
    assert.deepEqual(plain, ['http://127.0.0.1:1/metrics']);
    assert.deepEqual(tls, ['https://127.0.0.1:2/metrics']);
    plain.length = 0;
    await new ConsoleData(backend, { fetch: fetchPlain }).overview();
    assert.deepEqual(plain, ['http://127.0.0.1:1/metrics'], 'an mTLS adapter is not asked without a client certificate');
  });
});
