// After tool calls through the mesh, a real Prometheus (Debian's package, on
// loopback) scrapes the control plane, an adapter and Envoy with the repo's
// rules; a second Prometheus federates the first and sees the tool SLO series.
// Every query of the Grafana dashboard runs there, and the adapter's latency
// exemplars (trace ids) are stored and queryable.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { freePorts } from '../../support/ports.js';
import { until } from '../../support/wait.js';

const children: ChildProcess[] = [];
let mesh: Mesh;
let api: FastifyInstance;
let adapterPort: number;
let adminPort: number;
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-prom-'));

function run(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  c.stderr!.resume();
  children.push(c);
  return c;
}

async function query(port: number, q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
  if (!res?.ok) return []; // not listening or not ready yet
  const body = (await res.json().catch(() => ({}))) as {
    data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data?.result ?? [];
}

before(async () => {
  const ports = await freePorts(2);
  adapterPort = ports[0]!;
  adminPort = ports[1]!;
  // Traced (every call, as a root: this mesh's Envoy does not trace) to a collector that is not there: the exemplars are the point.
  run(process.execPath, [
    resolve('dist/cli/mcpmesh.js'),
    'adapter',
    '--name',
    'everything',
    '--port',
    String(adapterPort),
    '--tracing-collector',
    'http://127.0.0.1:9',
    '--tracing-sampling',
    '100',
    '--',
    process.execPath,
    resolve('node_modules/@modelcontextprotocol/server-everything/dist/index.js'),
    'stdio',
  ]);
  await until(
    async () => (await fetch(`http://127.0.0.1:${adapterPort}/readyz`).catch(() => undefined))?.ok === true,
    'adapter ready',
    30_000,
  );
  mesh = await startMesh({
    config: { servers: [{ name: 'everything', stdio: { command: ['unused: the test runs the adapter'], port: adapterPort } }] },
  });
  api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry });
  await api.listen({ host: '127.0.0.1', port: adminPort! });
});
after(async () => {
  for (const c of children) c.kill('SIGTERM');
  await api?.close();
  await mesh?.stop();
});

test('Prometheus scrapes control plane, adapter and Envoy; a federating Prometheus sees the tool SLOs', async () => {
  const call = async (i: number) => {
    // Refused until Envoy's listener is up.
    const res = await postToolCall(mesh.agentUrl('everything'), 'echo', { message: `m${i}` }, { id: i }).catch(() => undefined);
    return res?.status === 200 && (await res.text()).includes(`m${i}`);
  };
  await until(async () => call(0), 'calls through the mesh', 20_000);

  const [p1, p2] = await freePorts(2);
  const rules = resolve('deploy/prometheus/rules/mcpmesh-slo.yml');
  const cfg1 = join(dir, 'p1.yml');
  writeFileSync(
    cfg1,
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s', external_labels: { mesh: 'test' } },
      rule_files: [rules],
      scrape_configs: [
        { job_name: 'mcpmesh-control-plane', static_configs: [{ targets: [`127.0.0.1:${adminPort}`] }] },
        {
          job_name: 'mcpmesh-envoy',
          metrics_path: '/stats/prometheus',
          static_configs: [{ targets: [mesh.adminUrl.replace('http://', '')] }],
        },
        {
          job_name: 'mcpmesh-adapters',
          http_sd_configs: [{ url: `http://127.0.0.1:${adminPort}/api/v1/sd/adapters`, refresh_interval: '1s' }],
        },
      ],
    }),
  );
  const cfg2 = join(dir, 'p2.yml');
  writeFileSync(
    cfg2,
    stringify({
      global: { scrape_interval: '1s' },
      scrape_configs: [
        {
          job_name: 'federate',
          honor_labels: true,
          metrics_path: '/federate',
          params: { 'match[]': ['{__name__=~"mcpmesh:.*"}'] },
          static_configs: [{ targets: [`127.0.0.1:${p1}`] }],
        },
      ],
    }),
  );
  for (const [cfg, port, data] of [
    [cfg1, p1, 'd1'],
    [cfg2, p2, 'd2'],
  ] as const) {
    run('prometheus', [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(dir, data)}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--enable-feature=exemplar-storage',
    ]);
  }
  // A steady trickle of calls while Prometheus scrapes (bounded: 30 s).
  let stop = false;
  const load = (async () => {
    for (let i = 1; !stop && i < 3000; i++) {
      await call(i);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await until(
      async () => {
        const up = await query(p1!, 'up');
        const jobs = new Set(up.filter((r) => r.value[1] === '1').map((r) => r.metric['job']));
        return jobs.has('mcpmesh-control-plane') && jobs.has('mcpmesh-envoy') && jobs.has('mcpmesh-adapters');
      },
      'all three jobs up',
      30_000,
    );
    assert.ok((await query(p1!, 'mcpmesh_xds_connected_clients')).length > 0, "the control plane's metrics");
    assert.ok(
      (await query(p1!, 'mcpmesh_adapter_calls_total{method="tools/call",tool="echo",outcome="ok"}')).length > 0,
      "the adapter's tool metrics",
    );
    assert.ok(
      (await query(p1!, 'envoy_vhost_route_upstream_rq_completed{envoy_route="everything__tool__echo"}')).length > 0,
      "Envoy's per-tool route stats",
    );
    await until(
      async () => (await query(p2!, 'mcpmesh:envoy_tool_success:ratio_rate5m{server="everything",tool="echo"}')).length > 0,
      'Envoy tool SLO federated',
      30_000,
    );
    await until(
      async () => (await query(p2!, 'mcpmesh:adapter_tool_success:ratio_rate5m{server="everything",tool="echo"}')).length > 0,
      'adapter tool SLO federated',
      30_000,
    );
    const fed = await query(p2!, 'mcpmesh:adapter_tool_success:ratio_rate5m{server="everything",tool="echo"}');
    assert.equal(fed[0]!.metric['mesh'], 'test', 'the external label identifies the mesh');
    assert.equal(Number(fed[0]!.value[1]), 1);

    // The dashboard's queries, each answered with data by the Prometheus that records the rules.
    const dash = JSON.parse(readFileSync(resolve('deploy/grafana/mcpmesh-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string; exemplar?: boolean }[] }[];
    };
    for (const panel of dash.panels) {
      for (const t of panel.targets) {
        const res = await fetch(`http://127.0.0.1:${p1}/api/v1/query?query=${encodeURIComponent(t.expr)}`);
        const body = (await res.json()) as { status: string; error?: string };
        assert.equal(body.status, 'success', `panel "${panel.title}": ${t.expr}: ${body.error ?? ''}`);
      }
    }
    const exemplarPanel = dash.panels.find((p) => p.targets.some((t) => t.exemplar === true));
    assert.ok(exemplarPanel, 'a panel shows exemplars');
    await until(
      async () => (await query(p1!, exemplarPanel.targets[0]!.expr)).some((r) => r.metric['tool'] === 'echo'),
      'the exemplar panel has the echo series',
      30_000,
    );
    // Its exemplars name traces: trace_id labels on the buckets, as Grafana's trace link reads them.
    let traceIds: string[] = [];
    await until(
      async () => {
        const now = Date.now() / 1000;
        const res = await fetch(
          `http://127.0.0.1:${p1}/api/v1/query_exemplars?query=${encodeURIComponent('mcpmesh_adapter_call_duration_seconds_bucket{tool="echo"}')}&start=${now - 300}&end=${now + 5}`,
        );
        const body = (await res.json()) as { data?: { exemplars: { labels: Record<string, string> }[] }[] };
        traceIds = (body.data ?? []).flatMap((d) => d.exemplars.map((e) => e.labels['trace_id'] ?? ''));
        return traceIds.length > 0;
      },
      'exemplars stored by Prometheus',
      30_000,
    );
    assert.ok(
      traceIds.every((id) => /^[0-9a-f]{32}$/.test(id)),
      traceIds.join(','),
    );
  } finally {
    stop = true;
    await load;
  }
});
