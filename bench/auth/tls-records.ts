// What the mTLS adapter puts on the wire per answer: the TLS records it
// writes for one 2026-07-28 tools/call answer on a kept-alive connection (a
// relay between client and adapter reads the record headers), the records
// the client sent, and the protocol and cipher negotiated. Optionally the
// adapter runs under `--cpu-prof` for a profile of its TLS path.
//   node dist/bench/auth/tls-records.js [--calls 2000] [--cpu-prof DIR] [--plain] [--through-envoy]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { makeDevMesh } from '../../lib/dev-ca.js';
import { FIXTURE_SERVER, RUN_ADAPTER } from '../../test/support/adapter-fixture.js';
import { routeList, startMesh, statValue } from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    'cpu-prof': { type: 'string' },
    /** The same calls to a plain-HTTP adapter (no relay, no records): the profile to compare with. */
    plain: { type: 'boolean', default: false },
    /** Through a real Envoy (mTLS upstream through the relay): the records Envoy writes and the cipher it negotiates. */
    'through-envoy': { type: 'boolean', default: false },
  },
});
const calls = Number(values.calls);

/** Counts TLS records by content type in one direction of a relayed connection. */
class RecordCounter {
  private pending: Buffer = Buffer.alloc(0);
  readonly byType = new Map<number, number>();
  bytes = 0;
  feed(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt16BE(3);
      if (this.pending.length < 5 + len) break;
      const type = this.pending[0]!;
      this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
      this.pending = this.pending.subarray(5 + len);
    }
  }
  get appData(): number {
    return this.byType.get(23) ?? 0;
  }
}

/** Envoy's upstream TLS counters of the cluster (ssl.versions.* or ssl.ciphers.*) that counted something. */
async function envoySsl(adminUrl: string, kind: 'versions' | 'ciphers'): Promise<string[]> {
  const res = await fetch(`${adminUrl}/stats?format=json&filter=${encodeURIComponent(`^cluster\\.mcp_mtls\\.ssl\\.${kind}\\.`)}`);
  const stats = ((await res.json()) as { stats: { name: string; value?: number }[] }).stats;
  return stats
    .filter((s) => (s.value ?? 0) > 0)
    .map((s) => `${s.name.slice(s.name.lastIndexOf(`${kind}.`) + kind.length + 1)} (${s.value})`);
}

async function adapterProcess(args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const prof = values['cpu-prof'];
  const child = spawn(
    process.execPath,
    [
      ...(prof !== undefined ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
      RUN_ADAPTER,
      '--name',
      'mtls',
      '--port',
      '0',
      '--pool',
      '1',
      ...args,
      '--',
      process.execPath,
      FIXTURE_SERVER,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' } },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => /listening on (\S+)/.test(out), 'adapter listening', 15_000);
  return { child, port: Number(new URL(/listening on (\S+)/.exec(out)![1]!).port) };
}

const BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'echo',
    arguments: { text: 'x' },
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'tls-records', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
});
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
  'content-length': String(Buffer.byteLength(BODY)),
};

async function plainRun(): Promise<void> {
  const adapter = await adapterProcess([]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = `http://127.0.0.1:${adapter.port}/mcp`;
  const call = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: HEADERS }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${String(res.statusCode)}`))));
      });
      req.on('error', reject);
      req.end(BODY);
    });
  for (let i = 0; i < 50; i++) await call();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await call();
  console.log(JSON.stringify({ calls, plain: true, msPerCall: Number(((performance.now() - t0) / calls).toFixed(3)) }));
  agent.destroy();
  adapter.child.kill('SIGTERM');
  await new Promise((r) => adapter.child.once('exit', r));
}

async function main(): Promise<void> {
  if (values.plain) return plainRun();
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-tls-records-'));
  const certs = makeDevMesh(join(dir, 'ca'), { nodeIds: ['envoy-1'] });
  const envoyCert = certs.envoy.get('envoy-1')!;
  const adapter = await adapterProcess(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.caCert]);
  const down = new RecordCounter();
  const up = new RecordCounter();
  const relay = net.createServer((client) => {
    const server = net.connect(adapter.port, '127.0.0.1');
    client.setNoDelay(true);
    server.setNoDelay(true);
    client.on('data', (c: Buffer) => {
      up.feed(c);
      server.write(c);
    });
    server.on('data', (c: Buffer) => {
      down.feed(c);
      client.write(c);
    });
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const relayUrl = `https://127.0.0.1:${(relay.address() as AddressInfo).port}/mcp`;
  const mesh = values['through-envoy']
    ? await startMesh({
        discoverTools: false,
        upstreamTls: { caFile: certs.caCert, clientCertFile: envoyCert.cert, clientKeyFile: envoyCert.key },
        config: { servers: [{ name: 'mtls', replicas: [relayUrl], policy: { tools: { echo: { timeout: '5s' } } } }] },
      })
    : undefined;
  if (mesh !== undefined)
    await until(async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'mtls/tool/echo'), 'routes', 20_000);
  const url = mesh?.agentUrl('mtls') ?? relayUrl;
  const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: readFileSync(certs.caCert),
    cert: readFileSync(envoyCert.cert),
    key: readFileSync(envoyCert.key),
  });
  let socket: TLSSocket | undefined;
  const call = () =>
    new Promise<void>((resolve, reject) => {
      const req = (mesh !== undefined ? http : https).request(
        url,
        { method: 'POST', agent: mesh !== undefined ? plainAgent : agent, headers: HEADERS },
        (res) => {
          if (mesh === undefined) socket = res.socket as TLSSocket;
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${String(res.statusCode)}`))));
        },
      );
      req.on('error', reject);
      req.end(BODY);
    });
  for (let i = 0; i < 50; i++) await call();
  const down0 = down.appData;
  const up0 = up.appData;
  const bytes0 = down.bytes;
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await call();
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify(
      {
        calls,
        client: mesh !== undefined ? 'Envoy' : 'node https',
        protocol: socket?.getProtocol() ?? (mesh !== undefined ? await envoySsl(mesh.adminUrl, 'versions') : undefined),
        cipher: socket?.getCipher() ?? (mesh !== undefined ? await envoySsl(mesh.adminUrl, 'ciphers') : undefined),
        upstreamConnections: mesh !== undefined ? await statValue(mesh.adminUrl, 'cluster.mcp_mtls.upstream_cx_total') : undefined,
        serverRecordsPerAnswer: Number(((down.appData - down0) / calls).toFixed(3)),
        serverBytesPerAnswer: Math.round((down.bytes - bytes0) / calls),
        clientRecordsPerRequest: Number(((up.appData - up0) / calls).toFixed(3)),
        msPerCall: Number((ms / calls).toFixed(3)),
      },
      null,
      1,
    ),
  );
  agent.destroy();
  plainAgent.destroy();
  await mesh?.stop();
  relay.close();
  adapter.child.kill('SIGTERM');
  await new Promise((r) => adapter.child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
