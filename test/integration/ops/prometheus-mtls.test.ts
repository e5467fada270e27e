// A real Prometheus scrapes an adapter whose only port needs a client
// certificate: the control plane's service discovery marks mTLS adapters
// `__scheme__: https`, and the job's tls_config presents a client certificate
// of the mesh CA (`mcpmesh dev-ca --client prometheus`). promtool accepts the
// job, the target is up, and the adapter's series are stored. Without the
// client certificate the same target is down.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { type DevMeshCerts, makeDevMesh } from '../../../lib/dev-ca.js';
import { ENVOY_NODE_URI_PREFIX } from '../../../lib/mesh-contracts.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { freePorts } from '../../support/ports.js';
import { until } from '../../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-prom-mtls-'));
const children: ChildProcess[] = [];
let certs: DevMeshCerts;
let adapter: AdapterHandle;
let mesh: Mesh;
let api: FastifyInstance;
let adminPort: number;

before(async () => {
  certs = makeDevMesh(join(dir, 'ca'), { nodeIds: ['envoy-1'], clients: ['prometheus'] });
  adapter = await startFixtureAdapter({
    tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.caCert, mcpClientUriPrefix: ENVOY_NODE_URI_PREFIX },
  });
  const envoy = certs.envoy.get('envoy-1')!;
  mesh = await startMesh({
    discoverTools: false,
    upstreamTls: { caFile: certs.caCert, clientCertFile: envoy.cert, clientKeyFile: envoy.key },
    config: {
      tls: { adapters: true },
      servers: [{ name: 'fixture', stdio: { command: ['unused: the test runs the adapter'], port: adapter.port } }],
    },
  });
  adminPort = (await freePorts(1))[0]!;
  api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry });
  await api.listen({ host: '127.0.0.1', port: adminPort! });
});
after(async () => {
  for (const c of children) c.kill('SIGTERM');
  await api?.close();
  await mesh?.stop();
  await adapter?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function query(port: number, q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
  if (!res?.ok) return [];
  const body = (await res.json().catch(() => ({}))) as {
    data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data?.result ?? [];
}

test("the adapters' service discovery marks mTLS adapters https", async () => {
  const groups = (await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/sd/adapters`)).json()) as {
    targets: string[];
    labels: Record<string, string>;
  }[];
  assert.deepEqual(groups, [
    { targets: [`127.0.0.1:${adapter.port}`], labels: { server: 'fixture', replica: `127.0.0.1:${adapter.port}`, __scheme__: 'https' } },
  ]);
});

test('Prometheus scrapes the mTLS adapter with a client certificate of the mesh CA; without one the target is down', async () => {
  const client = certs.clients.get('prometheus')!;
  const sd = [{ url: `http://127.0.0.1:${adminPort}/api/v1/sd/adapters`, refresh_interval: '1s' }];
  const cfg = join(dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    stringify({
      global: { scrape_interval: '1s' },
      scrape_configs: [
        // The documented job (docs/observability.md): the same SD, a CA and a client certificate.
        {
          job_name: 'mcpmesh-adapters',
          http_sd_configs: sd,
          tls_config: { ca_file: certs.caCert, cert_file: client.cert, key_file: client.key },
        },
        // The same targets with no client certificate: refused by the adapter.
        { job_name: 'no-client-cert', http_sd_configs: sd, tls_config: { ca_file: certs.caCert } },
      ],
    }),
  );
  const check = spawnSync('promtool', ['check', 'config', cfg], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const [port] = await freePorts(1);
  const prom = spawn(
    'prometheus',
    [`--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  prom.stderr!.resume();
  children.push(prom);
  await until(
    async () => {
      const up = await query(port!, 'up');
      const byJob = new Map(up.map((r) => [r.metric['job'], r.value[1]]));
      return byJob.get('mcpmesh-adapters') === '1' && byJob.get('no-client-cert') === '0';
    },
    'the adapter up with the client certificate, down without',
    30_000,
    250,
  );
  const up = await query(port!, 'up{job="mcpmesh-adapters"}');
  assert.equal(up[0]?.metric['instance'], `127.0.0.1:${adapter.port}`);
  assert.equal(up[0]?.metric['server'], 'fixture');
  // The adapter's own series arrived.
  await until(
    async () => (await query(port!, 'mcpmesh_adapter_ready{job="mcpmesh-adapters"}')).length > 0,
    'adapter series stored',
    10_000,
    250,
  );
});

/** A POST of a tools/call straight to the adapter, presenting `client`. */
function directCall(client: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: {
      name: 'echo',
      arguments: { text: 'direct' },
      _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} },
    },
  });
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: adapter.port,
        path: '/mcp',
        method: 'POST',
        agent: false,
        ca: readFileSync(certs.caCert),
        cert: readFileSync(client.cert),
        key: readFileSync(client.key),
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test("the scraper's certificate reads /metrics but calls no tool: MCP takes Envoy's certificates alone", async () => {
  const scraper = await directCall(certs.clients.get('prometheus')!);
  assert.equal(scraper.status, 403);
  assert.match(scraper.body, /client certificate naming spiffe:\/\/mcpmesh\/envoy\//);
  assert.equal((await directCall(certs.envoy.get('envoy-1')!)).status, 200, "Envoy's certificate calls tools");
  // Through Envoy (its certificate names its node), calls work.
  await until(
    async () => (await postToolCall(mesh.agentUrl('fixture'), 'echo', { text: 'via envoy' })).status === 200,
    'a call through Envoy',
    15_000,
    200,
  );
});
