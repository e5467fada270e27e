// TLS that verifies, with a real Envoy: Envoy → adapter over mTLS (the adapter
// refuses connections without the mesh client certificate and reloads rotated
// certificates), Envoy refuses upstreams whose certificate does not match (wrong
// CA, wrong SAN) unless a policy names the SAN or opts out explicitly, SNI per
// replica, and xDS over TLS only for the Envoy whose certificate names its node id.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { renderBootstrap } from '../../../envoy/bootstrap.js';
import { startEnvoy } from '../../../envoy/envoy-process.js';
import { type CaFiles, issueLeaf, makeCa } from '../../../lib/dev-ca.js';
import { envoyNodeUri } from '../../../lib/mesh-contracts.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { dynamicClusters, type Mesh, startMesh, statValue } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { freePort } from '../../support/ports.js';
import { SimAdsClient } from '../../support/sim-ads-client.js';
import { until } from '../../support/wait.js';

const NODE = 'envoy-tls-1';
let dir: string;
let ca: CaFiles;
let rogueCa: CaFiles;
const files: Record<string, { cert: string; key: string }> = {};
const cleanups: (() => Promise<void> | void)[] = [];
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-tls-'));
  ca = makeCa(join(dir, 'ca'));
  rogueCa = makeCa(join(dir, 'rogue'), 'someone else');
  files['server'] = issueLeaf(ca, { name: 'server', commonName: 'adapter', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  files['server2'] = issueLeaf(ca, {
    name: 'server2',
    commonName: 'adapter rotated',
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    usage: 'server',
  });
  files['envoy'] = issueLeaf(ca, { name: 'envoy', commonName: NODE, uris: [envoyNodeUri(NODE)], usage: 'client' });
  files['other-envoy'] = issueLeaf(ca, {
    name: 'other-envoy',
    commonName: 'envoy-other',
    uris: [envoyNodeUri('envoy-other')],
    usage: 'client',
  });
  files['rogue'] = issueLeaf(rogueCa, { name: 'rogue', commonName: 'rogue', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  files['rogue-envoy'] = issueLeaf(rogueCa, { name: 'rogue-envoy', commonName: NODE, uris: [envoyNodeUri(NODE)], usage: 'client' });
  files['wrong-san'] = issueLeaf(ca, { name: 'wrong-san', commonName: 'other', dns: ['other.example'], usage: 'server' });
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** A plain HTTPS server that answers every request with 200 and the SNI it was asked for. */
async function httpsServer(cert: { cert: string; key: string }): Promise<{ port: number; snis: string[] }> {
  const snis: string[] = [];
  const server = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    snis.push(String((req.socket as TLSSocket).servername));
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  server.unref();
  return { port: (server.address() as AddressInfo).port, snis };
}

/** GET over TLS to the adapter; resolves with the status, or rejects when the handshake is refused. */
function tlsGet(port: number, path: string, client?: { cert: string; key: string }): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: readFileSync(ca.caCert),
        agent: false,
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function echo(url: string, text: string): Promise<{ status: number; body: string }> {
  const res = await postToolCall(url, 'echo', { text });
  return { status: res.status, body: await res.text() };
}

let adapter: AdapterHandle;

test('the adapter serves mTLS: no client certificate, or one from another CA, is refused; the mesh certificate is served; plain health port', async () => {
  adapter = await startFixtureAdapter({
    tls: { certFile: join(dir, 'adapter.crt'), keyFile: join(dir, 'adapter.key'), clientCaFile: ca.caCert },
  }).catch((err: Error) => {
    // No files yet: a clear error that names the file, not a crash later.
    assert.match(err.message, /TLS certificate .*adapter\.crt: ENOENT/);
    return undefined as unknown as AdapterHandle;
  });
  copyFileSync(files['server']!.cert, join(dir, 'adapter.crt'));
  copyFileSync(files['server']!.key, join(dir, 'adapter.key'));
  adapter = await startFixtureAdapter({
    tls: { certFile: join(dir, 'adapter.crt'), keyFile: join(dir, 'adapter.key'), clientCaFile: ca.caCert },
    logger,
  });
  cleanups.push(() => adapter.shutdown());
  assert.match(adapter.url, /^https:/);
  await assert.rejects(tlsGet(adapter.port, '/readyz'), 'no client certificate');
  await assert.rejects(tlsGet(adapter.port, '/readyz', files['rogue-envoy']), 'a client certificate from another CA');
  const first = await tlsGet(adapter.port, '/readyz', files['envoy']);
  assert.equal(first.status, 200);
  assert.equal(first.serial, new X509Certificate(readFileSync(files['server']!.cert)).serialNumber);
  // Consul's check reads the plain loopback health port: /readyz only, no MCP.
  const health = adapter.healthPort;
  assert.ok(health !== undefined && health > 0);
  assert.equal((await fetch(`http://127.0.0.1:${health}/readyz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${health}/mcp`, { method: 'POST', body: '{}' })).status, 404);
});

test('the adapter picks up a rotated certificate without a restart', async () => {
  // Rotation as tools do it: the new files are written beside and renamed over the old.
  copyFileSync(files['server2']!.key, join(dir, 'adapter.key.new'));
  copyFileSync(files['server2']!.cert, join(dir, 'adapter.crt.new'));
  renameSync(join(dir, 'adapter.key.new'), join(dir, 'adapter.key'));
  renameSync(join(dir, 'adapter.crt.new'), join(dir, 'adapter.crt'));
  const rotated = new X509Certificate(readFileSync(files['server2']!.cert)).serialNumber;
  await until(
    async () => (await tlsGet(adapter.port, '/readyz', files['envoy'])).serial === rotated,
    'the rotated certificate served',
    10_000,
    100,
  );
  assert.ok(logLines.some((l) => l.includes('TLS certificate reloaded')));
});

let mesh: Mesh;

test('Envoy verifies upstreams: the right CA and SAN work, a wrong CA or SAN fails the call; SNI is per replica; policy san and insecureSkipVerify', async () => {
  const rogue = await httpsServer(files['rogue']!);
  const wrongSan = await httpsServer(files['wrong-san']!);
  const byName = await httpsServer(files['server']!);
  mesh = await startMesh({
    logger,
    upstreamTls: { caFile: ca.caCert, clientCertFile: files['envoy']!.cert, clientKeyFile: files['envoy']!.key },
    config: {
      servers: [
        // mTLS to the adapter, addressed by IP: the IP SAN is checked.
        { name: 'adapter', replicas: [`https://127.0.0.1:${adapter.port}/mcp`] },
        // A certificate from another CA.
        { name: 'wrongca', replicas: [`https://127.0.0.1:${rogue.port}/mcp`] },
        // The mesh CA, but the certificate names other.example.
        { name: 'wrongsan', replicas: [`https://127.0.0.1:${wrongSan.port}/mcp`] },
        // The same server with the name its certificate carries in the policy.
        { name: 'named', replicas: [`https://127.0.0.1:${wrongSan.port}/mcp`], policy: { tls: { san: ['other.example'] } } },
        // A DNS name: SNI and the DNS SAN are the replica's own name.
        { name: 'dns', replicas: [`https://localhost:${byName.port}/mcp`] },
        // Explicitly unverified.
        { name: 'insecure', replicas: [`https://127.0.0.1:${rogue.port}/mcp`], policy: { tls: { insecureSkipVerify: true } } },
      ],
    },
  });
  cleanups.push(() => mesh.stop());
  await until(async () => (await dynamicClusters(mesh.envoy.adminUrl)).length === 6, 'six clusters', 15_000);

  // Envoy holds what was sent (auto_host_sni is newer than grpc-js-xds's protos).
  const clusters = await dynamicClusters(mesh.envoy.adminUrl);
  const dnsTls = JSON.stringify(clusters.find((c) => c['name'] === 'mcp_dns')?.['transport_socket']);
  assert.match(dnsTls, /"auto_host_sni":true/);
  assert.match(dnsTls, /"auto_sni_san_validation":true/);
  assert.match(dnsTls, /"trusted_ca":\{"filename":"[^"]+ca\.crt"\}/);

  const ok = await echo(mesh.agentUrl('adapter'), 'over mTLS');
  assert.equal(ok.status, 200, ok.body);
  assert.match(ok.body, /over mTLS/);

  const wrongCa = await echo(mesh.agentUrl('wrongca'), 'x');
  assert.equal(wrongCa.status, 503);
  assert.ok((await statValue(mesh.envoy.adminUrl, 'cluster.mcp_wrongca.ssl.fail_verify_error')) > 0);
  const badSan = await echo(mesh.agentUrl('wrongsan'), 'x');
  assert.equal(badSan.status, 503);
  assert.ok((await statValue(mesh.envoy.adminUrl, 'cluster.mcp_wrongsan.ssl.fail_verify_san')) > 0);

  assert.equal((await echo(mesh.agentUrl('named'), 'x')).status, 200);
  assert.equal((await echo(mesh.agentUrl('dns'), 'x')).status, 200);
  assert.ok(byName.snis.length > 0 && byName.snis.every((s) => s === 'localhost'), `SNI sent: ${byName.snis.join(',')}`);
  assert.equal((await echo(mesh.agentUrl('insecure'), 'x')).status, 200);
  assert.ok(
    logLines.some((l) => l.includes('"server":"insecure"') && l.includes('NOT verified')),
    'the unverified upstream is logged as a warning',
  );

  // tools/list from the control plane goes through the same verification (and client certificate).
  await until(
    () =>
      mesh.cp
        .currentCatalog()
        .servers.find((s) => s.name === 'adapter')
        ?.toolRoutes.some((r) => r.tool === 'echo') === true,
    'tools learned over mTLS',
    15_000,
  );
});

test('xDS over TLS: only the Envoy whose certificate names its node id gets configuration', async () => {
  const xdsLog: string[] = [];
  const xdsLogger = pino({ level: 'info' }, { write: (s: string) => void xdsLog.push(s) });
  const secure = await startMesh({
    logger: xdsLogger,
    nodeId: NODE,
    xdsTls: { certFile: files['server']!.cert, keyFile: files['server']!.key, clientCaFile: ca.caCert },
    bootstrapXdsTls: { certFile: files['envoy']!.cert, keyFile: files['envoy']!.key, caFile: ca.caCert },
    discoverTools: false,
    config: { servers: [{ name: 'plain', replicas: ['http://127.0.0.1:9/mcp'] }] },
  });
  cleanups.push(() => secure.stop());
  await until(
    async () => (await dynamicClusters(secure.envoy.adminUrl)).some((c) => c['name'] === 'mcp_plain'),
    'the right Envoy has its clusters',
    15_000,
  );
  assert.deepEqual(
    secure.cp.ads.clients().map((c) => c.node?.id),
    [NODE],
  );

  // A real Envoy with a mesh certificate that names another node.
  const adminPort = await freePort();
  const impostor = await startEnvoy({
    configYaml: renderBootstrap({
      nodeId: NODE,
      xdsPort: secure.xdsPort,
      adminPort,
      xdsTls: { certFile: files['other-envoy']!.cert, keyFile: files['other-envoy']!.key, caFile: ca.caCert },
    }),
    adminPort,
  });
  cleanups.push(() => impostor.stop());
  await until(
    () => xdsLog.some((l) => l.includes('xDS client refused') && l.includes('does not name node id')),
    'the impostor refused',
    15_000,
  );
  assert.deepEqual(await dynamicClusters(impostor.adminUrl), []);
  assert.deepEqual(
    secure.cp.ads.clients().map((c) => c.node?.id),
    [NODE],
  );

  const address = `127.0.0.1:${secure.xdsPort}`;
  const caPem = readFileSync(ca.caCert);
  // The status says why: PERMISSION_DENIED.
  const other = new SimAdsClient({
    address,
    nodeId: NODE,
    credentials: grpc.credentials.createSsl(caPem, readFileSync(files['other-envoy']!.key), readFileSync(files['other-envoy']!.cert)),
  });
  other.start();
  cleanups.push(() => other.close());
  await until(() => other.error !== undefined, 'the stream ends', 10_000);
  assert.equal(other.error?.code, grpc.status.PERMISSION_DENIED);
  assert.equal(other.acked.size, 0);

  // No client certificate, or a plain connection: the handshake is refused.
  for (const credentials of [grpc.credentials.createSsl(caPem), grpc.credentials.createInsecure()]) {
    const anon = new SimAdsClient({ address, nodeId: NODE, credentials });
    anon.start();
    cleanups.push(() => anon.close());
    await until(() => anon.error !== undefined, 'the stream fails', 10_000);
    assert.equal(anon.error?.code, grpc.status.UNAVAILABLE);
    assert.equal(anon.acked.size, 0);
  }
  // The right certificate over the same port still works.
  const right = new SimAdsClient({
    address,
    nodeId: NODE,
    credentials: grpc.credentials.createSsl(caPem, readFileSync(files['envoy']!.key), readFileSync(files['envoy']!.cert)),
  });
  right.start();
  cleanups.push(() => right.close());
  await until(() => right.acked.size > 0, 'the right client is served', 10_000);
});
