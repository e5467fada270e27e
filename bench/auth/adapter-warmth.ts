// What mTLS adds to an adapter asked straight (no Envoy), by how warm the
// adapter is: four adapters in processes of their own in front of the fixture
// stdio server (two plain, two mTLS with Envoy's client certificate, TLS 1.3
// and TLS 1.2 with Envoy's cipher), and a fifth plain one, `hot`, that takes
// most calls. Three patterns, each its own phase:
//   blocks       each adapter asked for `--block` calls in a row, adapters alternating;
//   interleaved  one call per adapter per round, in a new shuffled order (each idles
//                while the others answer, as in overhead.ts);
//   skewed       `hot` takes 7 of every 11 calls, the other four one each.
// p50 per adapter and pattern, on kept-alive connections (one per adapter).
//   node dist/bench/auth/adapter-warmth.js [--rounds 1000] [--block 250]
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeDevMesh } from '../../lib/dev-ca.js';
import { seededShuffle } from '../sampling.js';
import { adapterProcess, echoCall } from './bench-fixtures.js';

const { body: BODY, headers: HEADERS } = echoCall('warmth-bench');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '1000' }, block: { type: 'string', default: '250' } } });
const rounds = Number(values.rounds);
const block = Number(values.block);

/** The adapters started, stopped at the end (bench-fixtures.ts kills them if the run fails). */
const children: ChildProcess[] = [];

interface Target {
  readonly name: string;
  readonly url: string;
  readonly agent: http.Agent;
  readonly lat: Map<string, number[]>;
}

function call(t: Target): Promise<number> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const request = t.url.startsWith('https:') ? https.request : http.request;
    const req = request(t.url, { method: 'POST', agent: t.agent, headers: HEADERS }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? ok(performance.now() - t0) : fail(new Error(`${t.name}: status ${String(res.statusCode)}`)),
      );
    });
    req.on('error', fail);
    req.end(BODY);
  });
}

const shuffle = seededShuffle(5);

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-warmth-'));
  const certs = makeDevMesh(join(dir, 'ca'), { nodeIds: ['envoy-1'] });
  const envoy = certs.envoy.get('envoy-1')!;
  const tlsArgs = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.caCert];
  const client = { ca: readFileSync(certs.caCert), cert: readFileSync(envoy.cert), key: readFileSync(envoy.key) };
  const specs = [
    { name: 'hot (plain)', args: [], agent: () => new http.Agent({ keepAlive: true, maxSockets: 1 }) },
    { name: 'plain A', args: [], agent: () => new http.Agent({ keepAlive: true, maxSockets: 1 }) },
    { name: 'plain B', args: [], agent: () => new http.Agent({ keepAlive: true, maxSockets: 1 }) },
    { name: 'mTLS, TLS 1.3', args: tlsArgs, agent: () => new https.Agent({ keepAlive: true, maxSockets: 1, ...client }) },
    {
      name: 'mTLS, TLS 1.2 (Envoy’s cipher)',
      args: tlsArgs,
      agent: () =>
        new https.Agent({ keepAlive: true, maxSockets: 1, ...client, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
    },
  ];
  const targets: Target[] = [];
  for (const s of specs) {
    const a = await adapterProcess(`a${targets.length}`, s.args, 'error');
    children.push(a.child);
    targets.push({ name: s.name, url: a.url, agent: s.agent(), lat: new Map() });
  }
  const record = (t: Target, pattern: string, ms: number) => t.lat.set(pattern, [...(t.lat.get(pattern) ?? []), ms]);
  for (const t of targets) for (let i = 0; i < 200; i++) await call(t);
  const others = targets.slice(1);
  // blocks: every adapter but `hot`, `block` calls in a row, order reversed each pass
  for (let pass = 0; pass < Math.max(1, Math.round(rounds / block)); pass++)
    for (const t of pass % 2 === 0 ? others : [...others].reverse()) for (let i = 0; i < block; i++) record(t, 'blocks', await call(t));
  for (let r = 0; r < rounds; r++) for (const t of shuffle([...others])) record(t, 'interleaved', await call(t));
  const skew = [...Array(7).fill(targets[0]!), ...others] as Target[];
  for (let r = 0; r < rounds; r++) for (const t of shuffle([...skew])) record(t, 'skewed', await call(t));
  const p50 = (xs: readonly number[] | undefined) => {
    if (xs === undefined || xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    return Number(s[s.length >> 1]!.toFixed(3));
  };
  const results = targets.map((t) => ({
    adapter: t.name,
    blocksP50Ms: p50(t.lat.get('blocks')),
    interleavedP50Ms: p50(t.lat.get('interleaved')),
    skewedP50Ms: p50(t.lat.get('skewed')),
  }));
  console.log(JSON.stringify({ rounds, block, loadAtStart, loadAtEnd: loadavg().map((l) => Number(l.toFixed(2))), results }, null, 1));
  for (const t of targets) t.agent.destroy();
  for (const c of children) {
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
