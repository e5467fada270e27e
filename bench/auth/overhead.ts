// What the mesh's protection costs per call, through one real Envoy to real
// adapters, one per row (the fixture stdio server's echo, 2026-07-28 stateless calls), side
// by side in one run: no protection; a rate limit that never trips (Envoy's
// local rate limit filter with a bucket per agent and tool); mTLS from Envoy to
// the adapter (kept-alive upstream connections); JWT alone (the policy's
// `auth` with a local JWKS), JWT with per-tool rules, and JWT with rules and
// mTLS; the JWT rows use the provider's token cache (a repeated token is
// verified once per Envoy worker), and two more rows, JWT alone and JWT with
// rules, use a provider without it (every call's RS256 signature verified):
// the cache's before and after in one run. On a build without the `auth` policy the JWT rows are listed as such.
// Two more rows call the adapters straight, plain and mTLS, Envoy bypassed:
// the adapter's own share of the mTLS row.
//
// At one client each round sends one call per row in a new shuffled order; at
// N clients each round runs every row for a burst of N concurrent clients
// (one kept-alive connection each), rows in a new shuffled order.
//   node dist/bench/auth/overhead.js [--rounds 3000] [--clients 1,16] [--burst 50] [--one-client-run 1] [--max-seconds 240]
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PolicySchema } from '../../control-plane/catalog/policy-schema.js';
import { makeDevMesh } from '../../lib/dev-ca.js';
import { startJwtIssuer } from '../../test/support/jwt-issuer.js';
import { routeList, startMesh, statValue } from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';
import { percentile, seededShuffle } from '../sampling.js';
import { adapterProcess, echoCall, RULES } from './bench-fixtures.js';

const { body: BODY, headers: HEADERS } = echoCall('auth-bench');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '1,16' },
    /** Calls per client in one round at N clients. */
    burst: { type: 'string', default: '50' },
    /**
     * Calls per row in a row at one client (default 1: rows interleaved call by
     * call, so every row's processes idle between its calls); more: each row
     * warm for its run, as a connection in steady use is.
     */
    'one-client-run': { type: 'string', default: '1' },
    'max-seconds': { type: 'string', default: '240' },
  },
});
const rounds = Number(values.rounds);
const clientCounts = values.clients.split(',').map(Number);
const burst = Number(values.burst);
const oneClientRun = Math.max(1, Number(values['one-client-run']));

interface Row {
  readonly name: string;
  readonly server: string;
  /** Why the row cannot run on this build, or undefined. */
  readonly missing?: string;
  /** Straight to the adapter, Envoy bypassed: how much of a row's cost is the adapter's own. */
  readonly direct?: 'plain' | 'mtls';
  /** Calls carry the bench's bearer token. */
  readonly token?: boolean;
  /** The row its p50 is compared with (default: no auth). */
  readonly baseline?: string;
}

const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);

/** `root` and every process below it (Linux /proc), found once: Envoy's tree does not change during the run. */
function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  return out;
}

/**
 * CPU milliseconds the processes have used so far: Envoy's own cost per call,
 * which the machine's other load inflates far less than it does latency.
 */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks * TICK_MS;
}

const shuffle = seededShuffle(7);

function call(url: string, agent: http.Agent, headers: Record<string, string> = HEADERS): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const request = url.startsWith('https:') ? https.request : http.request;
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${url}: status ${String(res.statusCode)}`)),
      );
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-auth-bench-'));
  const certs = makeDevMesh(join(dir, 'ca'), { nodeIds: ['envoy-1'] });
  const envoyCert = certs.envoy.get('envoy-1')!;
  // Each row its own adapter, in a process of its own: its CPU per call is its
  // own, and every adapter gets the same share of the calls. An adapter that
  // serves most rows stays hot between its calls while one that serves a few
  // waits idle: at one client that alone made a second plain adapter, called
  // once in nine, 0.36 ms slower at p50 than the first (bench/RESULTS.md,
  // "Auth overhead: equal shares").
  const tlsArgs = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.caCert];
  const TLS_ROWS = new Set(['mtls', 'rules-mtls', 'direct-mtls']);
  const ROW_SERVERS = [
    'none',
    'limited',
    'mtls',
    'direct-plain',
    'direct-mtls',
    'jwt',
    'rules',
    'rules-mtls',
    'jwt-nocache',
    'rules-nocache',
  ];
  const adapters = new Map<string, { child: ChildProcess; url: string }>();
  for (const name of ROW_SERVERS) adapters.set(name, await adapterProcess(name, TLS_ROWS.has(name) ? tlsArgs : []));
  const urlFor = (server: string) => adapters.get(server)!.url;
  // JWT through the policy's `auth` (a local JWKS; the bench's token names the agent).
  const issuer = await startJwtIssuer(dir);
  const token = await issuer.sign({ sub: 'bench-agent', scope: 'tools.read' }, { expiresIn: '2h' });
  const jwtMissing = 'auth' in (PolicySchema.shape as Record<string, unknown>) ? undefined : 'no JWT policy fields on this build';
  const jwt = (missing: string | undefined) => (missing === undefined ? {} : { missing });
  const never = { requests: 1_000_000, per: '1s' };
  const rows: Row[] = [
    { name: 'no auth', server: 'none' },
    { name: 'rate limit on (never trips)', server: 'limited' },
    { name: 'mTLS to the adapter', server: 'mtls' },
    { name: 'adapter direct, plain (no Envoy)', server: 'direct-plain', direct: 'plain', baseline: 'adapter direct, plain (no Envoy)' },
    { name: 'adapter direct, mTLS (no Envoy)', server: 'direct-mtls', direct: 'mtls', baseline: 'adapter direct, plain (no Envoy)' },
    { name: 'JWT only', server: 'jwt', token: true, ...jwt(jwtMissing) },
    { name: 'JWT + per-tool rules', server: 'rules', token: true, ...jwt(jwtMissing) },
    { name: 'JWT + rules + mTLS to the adapter', server: 'rules-mtls', token: true, ...jwt(jwtMissing) },
    { name: 'JWT only, no token cache', server: 'jwt-nocache', token: true, ...jwt(jwtMissing) },
    { name: 'JWT + rules, no token cache', server: 'rules-nocache', token: true, ...jwt(jwtMissing) },
  ];
  const mesh = await startMesh({
    discoverTools: false,
    upstreamTls: { caFile: certs.caCert, clientCertFile: envoyCert.cert, clientKeyFile: envoyCert.key },
    config: {
      ...(jwtMissing === undefined
        ? {
            auth: {
              providers: {
                corp: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile } },
                // The same issuer and keys, every token verified (no cache).
                verify: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile }, tokenCache: 0 },
              },
            },
          }
        : {}),
      servers: [
        { name: 'none', replicas: [urlFor('none')], policy: { tools: { echo: { timeout: '5s' } } } },
        { name: 'limited', replicas: [urlFor('limited')], policy: { tools: { echo: { timeout: '5s', rateLimit: never } } } },
        { name: 'mtls', replicas: [urlFor('mtls')], policy: { tools: { echo: { timeout: '5s' } } } },
        ...(jwtMissing === undefined
          ? [
              { name: 'jwt', replicas: [urlFor('jwt')], policy: { auth: { provider: 'corp' }, tools: { echo: { timeout: '5s' } } } },
              { name: 'rules', replicas: [urlFor('rules')], policy: { auth: RULES, tools: { echo: { timeout: '5s' } } } },
              { name: 'rules-mtls', replicas: [urlFor('rules-mtls')], policy: { auth: RULES, tools: { echo: { timeout: '5s' } } } },
              {
                name: 'jwt-nocache',
                replicas: [urlFor('jwt-nocache')],
                policy: { auth: { provider: 'verify' }, tools: { echo: { timeout: '5s' } } },
              },
              {
                name: 'rules-nocache',
                replicas: [urlFor('rules-nocache')],
                policy: { auth: { ...RULES, provider: 'verify' }, tools: { echo: { timeout: '5s' } } },
              },
            ]
          : []),
      ],
    },
  });
  const runnable = rows.filter((r) => r.missing === undefined);
  await until(
    async () => {
      const names = new Set((await routeList(mesh.adminUrl)).map((r) => String(r['name'])));
      return runnable.every((r) => r.direct !== undefined || names.has(`${r.server}/tool/echo`));
    },
    'routes',
    20_000,
  );
  const envoyPids = processTree(mesh.envoy.pid);
  // Each row's adapter and its server process (the fixture).
  const adapterPids = new Map<string, number[]>([...adapters].map(([name, a]) => [name, processTree(a.child.pid!)]));
  const withToken = { ...HEADERS, authorization: `Bearer ${token}` };
  const headersOf = (r: Row) => (r.token === true ? withToken : HEADERS);
  const urlOf = (r: Row) => (r.direct !== undefined ? urlFor(r.server) : mesh.agentUrl(r.server));
  const tlsClient = { ca: readFileSync(certs.caCert), cert: readFileSync(envoyCert.cert), key: readFileSync(envoyCert.key) };
  const deadline = performance.now() + Number(values['max-seconds']) * 1000;
  const results: Record<string, unknown>[] = [];
  for (const clients of clientCounts) {
    const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    // The mTLS adapter asked directly, with Envoy's client certificate.
    const tlsAgents = Array.from({ length: clients }, () => new https.Agent({ keepAlive: true, maxSockets: 1, ...tlsClient }));
    const agentsOf = (r: Row) => (r.direct === 'mtls' ? tlsAgents : agents);
    const samples = new Map<string, number[]>(runnable.map((r) => [r.name, []]));
    const busyMs = new Map<string, number>(runnable.map((r) => [r.name, 0]));
    const envoyCpu = new Map<string, number>(runnable.map((r) => [r.name, 0]));
    const adapterCpu = new Map<string, number>(runnable.map((r) => [r.name, 0]));
    // Warm-up: every connection of every row, upstream connections included.
    for (const r of runnable) for (let i = 0; i < 100; i++) await Promise.all(agentsOf(r).map((a) => call(urlOf(r), a, headersOf(r))));
    const order = [...runnable];
    const n = Math.max(1, Math.round(rounds / (clients === 1 ? oneClientRun : burst)));
    for (let round = 0; round < n && performance.now() < deadline; round++) {
      for (const r of shuffle(order)) {
        const url = urlOf(r);
        const per = clients === 1 ? oneClientRun : burst;
        // CPU ticks are 10 ms: at one client a segment is one call (or one run),
        // so the figure is a sum of rounding errors that averages out over the rounds.
        const cpu0 = cpuMs(envoyPids);
        const adapterCpu0 = cpuMs(adapterPids.get(r.server) ?? []);
        const t0 = performance.now();
        const lat = await Promise.all(
          agentsOf(r).map(async (a) => {
            const out: number[] = [];
            for (let i = 0; i < per; i++) out.push(await call(url, a, headersOf(r)));
            return out;
          }),
        );
        busyMs.set(r.name, busyMs.get(r.name)! + performance.now() - t0);
        envoyCpu.set(r.name, envoyCpu.get(r.name)! + cpuMs(envoyPids) - cpu0);
        adapterCpu.set(r.name, adapterCpu.get(r.name)! + cpuMs(adapterPids.get(r.server) ?? []) - adapterCpu0);
        samples.get(r.name)!.push(...lat.flat());
      }
    }
    // Kept-alive upstream connections: how many Envoy opened to each row's adapter so far.
    const connections = new Map<string, number>();
    for (const r of runnable)
      if (r.direct === undefined) connections.set(r.name, await statValue(mesh.adminUrl, `cluster.mcp_${r.server}.upstream_cx_total`));
    for (const r of rows) {
      if (r.missing !== undefined) {
        results.push({ clients, row: r.name, missing: r.missing });
        continue;
      }
      const s = samples.get(r.name)!.sort((a, b) => a - b);
      const p50 = percentile(s, 50);
      const base = percentile(
        [...samples.get(r.baseline ?? 'no auth')!].sort((a, b) => a - b),
        50,
      );
      results.push({
        clients,
        row: r.name,
        n: s.length,
        p50Ms: Number(p50.toFixed(3)),
        p90Ms: Number(percentile(s, 90).toFixed(3)),
        p99Ms: Number(percentile(s, 99).toFixed(3)),
        callsPerSecond: Math.round(s.length / (busyMs.get(r.name)! / 1000)),
        addedP50Ms: Number((p50 - base).toFixed(3)),
        upstreamConnectionsOpened: connections.get(r.name),
        ...(r.direct === undefined ? { envoyCpuUsPerCall: Math.round((envoyCpu.get(r.name)! * 1000) / s.length) } : {}),
        adapterCpuUsPerCall: Math.round((adapterCpu.get(r.name)! * 1000) / s.length),
      });
    }
    for (const a of [...agents, ...tlsAgents]) a.destroy();
  }
  console.log(JSON.stringify({ rounds, burst, loadAtStart, loadAtEnd: loadavg().map((l) => Number(l.toFixed(2))), results }, null, 1));
  await mesh.stop();
  for (const a of adapters.values()) {
    a.child.kill('SIGTERM');
    await new Promise((r) => a.child.once('exit', r));
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
