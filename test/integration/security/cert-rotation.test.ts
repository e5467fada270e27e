// Certificates rotate without a restart, with a real Envoy: Envoy reads its
// upstream client certificate, the upstream CA and its xDS client certificate
// through file-based SDS, and the adapter reloads its own. The mesh's files
// are renamed over while calls run over mTLS: no call fails, Envoy loads the
// new certificates and presents them on new connections, the adapter serves
// its new one, and Envoy keeps getting its configuration over xDS TLS.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { type CaFiles, issueLeaf, makeCa } from '../../../lib/dev-ca.js';
import { envoyNodeUri } from '../../../lib/mesh-contracts.js';
import { connectClient, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { dynamicClusters, type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

const NODE = 'envoy-rotation-1';
let dir: string;
let live: string;
let ca: CaFiles;
const files: Record<string, { cert: string; key: string }> = {};
const cleanups: (() => Promise<void> | void)[] = [];

const serial = (certFile: string) => new X509Certificate(readFileSync(certFile)).serialNumber.toLowerCase();

/** Rotation as tools do it: new files written beside the old, then renamed over them (key first). */
function install(name: string, from: { cert: string; key: string }): void {
  copyFileSync(from.key, join(live, `${name}.key.new`));
  copyFileSync(from.cert, join(live, `${name}.crt.new`));
  renameSync(join(live, `${name}.key.new`), join(live, `${name}.key`));
  renameSync(join(live, `${name}.crt.new`), join(live, `${name}.crt`));
}
const livePair = (name: string) => ({ cert: join(live, `${name}.crt`), key: join(live, `${name}.key`) });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-rotation-'));
  live = join(dir, 'live');
  mkdirSync(live);
  ca = makeCa(join(dir, 'ca'));
  const server = { dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' as const };
  files['adapter1'] = issueLeaf(ca, { name: 'adapter1', commonName: 'adapter 1', ...server });
  files['adapter2'] = issueLeaf(ca, { name: 'adapter2', commonName: 'adapter 2', ...server });
  files['recorder'] = issueLeaf(ca, { name: 'recorder', commonName: 'recorder', ...server });
  files['cp'] = issueLeaf(ca, { name: 'cp', commonName: 'control plane', ...server });
  for (const n of ['1', '2']) {
    files[`envoy${n}`] = issueLeaf(ca, { name: `envoy${n}`, commonName: 'envoy upstream', usage: 'client' });
    files[`xds${n}`] = issueLeaf(ca, { name: `xds${n}`, commonName: NODE, uris: [envoyNodeUri(NODE)], usage: 'client' });
  }
  install('adapter', files['adapter1']!);
  install('envoy', files['envoy1']!);
  install('xds', files['xds1']!);
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS server that requires a mesh client certificate, records its serial, and closes each connection after answering. */
async function recordingServer(): Promise<{ port: number; serials: string[] }> {
  const serials: string[] = [];
  const server = https.createServer(
    {
      cert: readFileSync(files['recorder']!.cert),
      key: readFileSync(files['recorder']!.key),
      ca: readFileSync(ca.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      serials.push((req.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase());
      req.resume();
      // A new connection for every request: each one shows the certificate Envoy presents now.
      req.on('end', () =>
        res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end('{"jsonrpc":"2.0","id":1,"result":{}}'),
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, serials };
}

/** The serials of the certificates Envoy has loaded (admin /certs). */
async function envoyCertSerials(adminUrl: string): Promise<Set<string>> {
  const body = (await (await fetch(`${adminUrl}/certs`)).json()) as { certificates?: { cert_chain?: { serial_number?: string }[] }[] };
  return new Set((body.certificates ?? []).flatMap((c) => (c.cert_chain ?? []).map((x) => String(x.serial_number).toLowerCase())));
}

/** The serial of the certificate the adapter serves to a new connection. */
function adapterServes(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/readyz',
        ca: readFileSync(ca.caCert),
        cert: readFileSync(files['envoy1']!.cert),
        key: readFileSync(files['envoy1']!.key),
        agent: false,
      },
      (res) => {
        const s = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase();
        res.resume();
        res.on('end', () => resolve(s));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function post(url: string): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  await res.text();
  return res.status;
}

test('the mesh certificates rotate while calls run: no call fails, the new certificates are presented, xDS keeps working', async () => {
  const adapterTls = { certFile: livePair('adapter').cert, keyFile: livePair('adapter').key, clientCaFile: ca.caCert };
  const adapter: AdapterHandle = await startFixtureAdapter({ tls: adapterTls });
  cleanups.push(() => adapter.shutdown());
  const recorder = await recordingServer();
  const sdsDir = join(dir, 'sds');
  const config = {
    servers: [
      { name: 'tools', replicas: [`https://127.0.0.1:${adapter.port}/mcp`] },
      { name: 'recorder', replicas: [`https://127.0.0.1:${recorder.port}/mcp`] },
    ],
  };
  const mesh: Mesh = await startMesh({
    config,
    discoverTools: false,
    nodeId: NODE,
    upstreamTls: { caFile: ca.caCert, clientCertFile: livePair('envoy').cert, clientKeyFile: livePair('envoy').key, sdsDir },
    xdsTls: { certFile: files['cp']!.cert, keyFile: files['cp']!.key, clientCaFile: ca.caCert },
    bootstrapXdsTls: { certFile: livePair('xds').cert, keyFile: livePair('xds').key, caFile: ca.caCert, sdsDir },
  });
  cleanups.push(() => mesh.stop());
  await until(async () => (await dynamicClusters(mesh.envoy.adminUrl)).length === 2, 'two clusters', 15_000);
  // The clusters name SDS files, not the certificate files.
  const tls = JSON.stringify((await dynamicClusters(mesh.envoy.adminUrl)).find((c) => c['name'] === 'mcp_tools')?.['transport_socket']);
  assert.match(
    tls,
    /"tls_certificate_sds_secret_configs":\[\{"name":"mcpmesh-cert-[0-9a-f]+","sds_config":\{"resource_api_version":"V3","path_config_source"/,
  );
  assert.match(tls, /"validation_context_sds_secret_config":\{"name":"mcpmesh-ca-[0-9a-f]+"/);
  assert.doesNotMatch(tls, /envoy\.crt/);

  const before = await envoyCertSerials(mesh.envoy.adminUrl);
  assert.ok(before.has(serial(files['envoy1']!.cert)), 'the upstream client certificate loaded');
  assert.ok(before.has(serial(files['xds1']!.cert)), 'the xDS client certificate loaded');
  await until(async () => (await post(mesh.agentUrl('recorder'))) === 200, 'recorder reachable over mTLS', 10_000, 100);
  assert.equal(recorder.serials.at(-1), serial(files['envoy1']!.cert));

  // Calls run over mTLS all along: an SDK client on one connection, and
  // fresh fetches, back to back, bounded in count and time.
  const client = await connectClient(mesh.agentUrl('tools'), '2026');
  const failures: string[] = [];
  let calls = 0;
  let stop = false;
  const deadline = performance.now() + 40_000;
  const load = (async () => {
    while (!stop && calls < 20_000 && performance.now() < deadline) {
      calls++;
      try {
        const r = await client.callTool({ name: 'echo', arguments: { text: `r${calls}` } });
        if (firstText(r) !== `echo: r${calls}`) failures.push(`call ${calls}: ${JSON.stringify(r)}`);
      } catch (err) {
        failures.push(`call ${calls}: ${(err as Error).message}`);
      }
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 500));
    install('adapter', files['adapter2']!);
    install('envoy', files['envoy2']!);
    install('xds', files['xds2']!);

    // Envoy loads both new client certificates from the files its SDS secrets name.
    await until(
      async () => {
        const loaded = await envoyCertSerials(mesh.envoy.adminUrl);
        return loaded.has(serial(files['envoy2']!.cert)) && loaded.has(serial(files['xds2']!.cert));
      },
      'Envoy loaded the rotated client certificates',
      15_000,
      100,
    );
    // ...and presents the new one on a new upstream connection.
    await until(
      async () => (await post(mesh.agentUrl('recorder'))) === 200 && recorder.serials.at(-1) === serial(files['envoy2']!.cert),
      'the rotated client certificate presented upstream',
      10_000,
      100,
    );
    // The adapter serves its own rotated certificate to new connections.
    await until(
      async () => (await adapterServes(adapter.port)) === serial(files['adapter2']!.cert),
      'the adapter serves its rotated certificate',
      10_000,
      100,
    );
    // A fresh connection through Envoy to the adapter works with both new certificates.
    const fresh = await connectClient(mesh.agentUrl('tools'), '2026');
    assert.equal(firstText(await fresh.callTool({ name: 'echo', arguments: { text: 'fresh' } })), 'echo: fresh');
    await fresh.close();

    // xDS over TLS with the rotated client certificate: the control plane
    // restarts, Envoy connects again, and a change still reaches it.
    await mesh.restartControlPlane(200);
    mesh.writeConfig({ servers: [...config.servers, { name: 'later', replicas: [`https://127.0.0.1:${recorder.port}/mcp`] }] });
    await until(
      async () => (await routeList(mesh.envoy.adminUrl)).some((r) => String(r['name']).startsWith('later/')),
      'a change after the restart reaches Envoy',
      20_000,
      200,
    );
  } finally {
    stop = true;
    await load;
    await client.close();
  }
  assert.ok(calls > 20, `calls ran during the rotation (${calls})`);
  assert.deepEqual(failures, [], 'no call failed');
});
