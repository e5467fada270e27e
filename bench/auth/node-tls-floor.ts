// What TLS itself costs a Node HTTP server on this machine, without the
// adapter: a bare echo server (one JSON answer of the adapter's size,
// writeHead + end, client certificates required as the adapter does) in a
// process of its own, asked over http and over https on kept-alive
// connections, rounds alternating; the server's CPU per request from its own
// process.cpuUsage(). The floor under the mTLS adapter's cost.
//   node dist/bench/auth/node-tls-floor.js [--requests 4000] [--rounds 4] [--tls-max TLSv1.2|TLSv1.3] [--cipher NAME]
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureVersion } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeDevMesh } from '../../lib/dev-ca.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '4' },
    'tls-max': { type: 'string' },
    cipher: { type: 'string' },
    /** Internal: run as the echo server (mode http|https, then the certificate directory). */
    serve: { type: 'string' },
    dir: { type: 'string' },
  },
});

const ANSWER = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x' }], resultType: 'complete' } });

function serve(mode: string, dir: string): void {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    });
  };
  const server =
    mode === 'https'
      ? https.createServer(
          {
            cert: readFileSync(join(dir, 'server.crt')),
            key: readFileSync(join(dir, 'server.key')),
            ca: readFileSync(join(dir, 'ca.crt')),
            requestCert: true,
            rejectUnauthorized: true,
          },
          handler,
        )
      : http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  let c0 = process.cpuUsage();
  process.on('message', (m) => {
    if (m === 'start') c0 = process.cpuUsage();
    else if (m === 'stop') {
      const c = process.cpuUsage(c0);
      process.send!({ cpuUs: c.user + c.system });
    }
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

async function main(): Promise<void> {
  const n = Number(values.requests);
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-tls-floor-'));
  const certs = makeDevMesh(join(dir, 'ca'), { nodeIds: ['envoy-1'] });
  const envoy = certs.envoy.get('envoy-1')!;
  const self = fileURLToPath(import.meta.url);
  const start = async (mode: 'http' | 'https') => {
    const child: ChildProcess = fork(self, ['--serve', mode, '--dir', join(dir, 'ca')]);
    const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => r(m as { port: number })));
    return { child, port };
  };
  const servers = { http: await start('http'), https: await start('https') };
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    https: new https.Agent({
      keepAlive: true,
      maxSockets: 1,
      ca: readFileSync(certs.caCert),
      cert: readFileSync(envoy.cert),
      key: readFileSync(envoy.key),
      ...(values['tls-max'] !== undefined ? { maxVersion: values['tls-max'] as SecureVersion } : {}),
      ...(values.cipher !== undefined ? { ciphers: values.cipher } : {}),
    }),
  };
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } });
  const call = (mode: 'http' | 'https') =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = (mode === 'https' ? https : http).request(
        {
          host: '127.0.0.1',
          port: servers[mode].port,
          method: 'POST',
          path: '/',
          agent: agents[mode],
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(performance.now() - t0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const out = { http: { cpuUs: 0, lat: [] as number[] }, https: { cpuUs: 0, lat: [] as number[] } };
  for (const m of ['http', 'https'] as const) for (let i = 0; i < 200; i++) await call(m);
  for (let r = 0; r < rounds; r++) {
    for (const m of r % 2 === 0 ? (['https', 'http'] as const) : (['http', 'https'] as const)) {
      servers[m].child.send('start');
      for (let i = 0; i < n; i++) out[m].lat.push(await call(m));
      servers[m].child.send('stop');
      const { cpuUs } = await new Promise<{ cpuUs: number }>((res) => servers[m].child.once('message', (x) => res(x as { cpuUs: number })));
      out[m].cpuUs += cpuUs;
    }
  }
  const summary = (m: 'http' | 'https') => {
    const l = out[m].lat.sort((a, b) => a - b);
    return { serverCpuUsPerRequest: Number((out[m].cpuUs / (n * rounds)).toFixed(1)), p50Ms: Number(l[l.length >> 1]!.toFixed(3)) };
  };
  console.log(
    JSON.stringify({
      requests: n * rounds,
      tlsMax: values['tls-max'] ?? 'TLSv1.3',
      cipher: values.cipher ?? 'default',
      http: summary('http'),
      https: summary('https'),
    }),
  );
  for (const s of Object.values(servers)) s.child.kill();
  rmSync(dir, { recursive: true, force: true });
}

if (values.serve !== undefined) serve(values.serve, values.dir!);
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
