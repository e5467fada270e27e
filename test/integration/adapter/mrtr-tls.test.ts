// Multi round-trip requests when Envoy reaches the adapters over mTLS: an
// mTLS adapter does not forward a retry to the replica holding its call (its
// certificate is a server certificate), so it answers 421 marked retryable,
// and Envoy's route retries it on another replica until it reaches the holder.
// Real Envoy, three in-process adapter replicas sharing a key ring, the v2
// client through Envoy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { newKeyRingJson } from '../../../adapter/sessions/session-keys.js';
import { type CaFiles, issueLeaf, makeCa } from '../../../lib/dev-ca.js';
import { connectClient, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

let dir: string;
let ca: CaFiles;
let replicas: AdapterHandle[] = [];
let mesh: Mesh;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-mrtr-tls-'));
  ca = makeCa(join(dir, 'ca'));
  const server = issueLeaf(ca, { name: 'adapter', commonName: 'adapter', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const envoy = issueLeaf(ca, { name: 'envoy', commonName: 'envoy', usage: 'client' });
  const ring = JSON.stringify(newKeyRingJson());
  replicas = await Promise.all(
    [0, 1, 2].map(() =>
      startFixtureAdapter({
        poolMin: 2,
        sessionKeys: ring,
        tls: { certFile: server.cert, keyFile: server.key, clientCaFile: ca.caCert },
      }),
    ),
  );
  mesh = await startMesh({
    upstreamTls: { caFile: ca.caCert, clientCertFile: envoy.cert, clientKeyFile: envoy.key },
    config: { servers: [{ name: 'fixture', replicas: replicas.map((r) => `https://127.0.0.1:${r.port}/mcp`) }] },
  });
  await until(
    async () => {
      try {
        const c = await connectClient(mesh.agentUrl('fixture'), '2026', { name: 'probe' });
        await c.close();
        return true;
      } catch {
        return false;
      }
    },
    'the mesh serving over mTLS',
    20_000,
    200,
  );
});
after(async () => {
  await mesh?.stop();
  for (const r of replicas) await r.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function fleet(name: string): Promise<number> {
  let sum = 0;
  for (const r of replicas) {
    const text = await r.metrics.registry.getSingleMetricAsString(name);
    for (const l of text.split('\n')) if (!l.startsWith('#') && l.trim() !== '') sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('every retry reaches its holder: a replica that does not hold the call answers 421 retryable, and Envoy tries another', async () => {
  const client = await connectClient(mesh.agentUrl('fixture'), '2026', {
    name: 'tls-answering',
    capabilities: { elicitation: { form: {} } },
  });
  client.setRequestHandler('elicitation/create', async (req) => ({ action: 'accept', content: { answer: `re ${req.params.message}` } }));
  try {
    for (let i = 0; i < 12; i++) {
      const r = await client.callTool({ name: 'elicit', arguments: { question: `q${i}` } });
      assert.equal(firstText(r), `accept: {"answer":"re q${i}"}`);
    }
  } finally {
    await client.close();
  }
  assert.equal(await fleet('mcpmesh_adapter_mrtr_forwarded_total'), 0, 'an mTLS replica does not forward');
  assert.equal(await fleet('mcpmesh_adapter_mrtr_answered_total'), 12);
  // Least-request puts a retry on the holder about one time in three: all 12 there is (1/3)^12.
  let misdirected = 0;
  for (const r of replicas) {
    const text = await r.metrics.registry.getSingleMetricAsString('mcpmesh_adapter_mrtr_refused_total');
    for (const l of text.split('\n')) if (l.includes('reason="misdirected"')) misdirected += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  assert.ok(misdirected > 0, 'some retries landed elsewhere first');
});
