// What a server's place in the route table costs per call, this build against
// a baseline build in the same run: each build's own control plane and real
// Envoy in front of one real adapter (the fixture stdio server's echo,
// 2026-07-28 stateless calls), with the same servers: `a-none` (no auth) and
// `b-jwt` (JWT) first in the table, six plain servers, `y-none` (no auth)
// and `z-rules` (JWT with per-tool rules) last, as a server with rules sits
// behind others in a real mesh (servers are in name order): y-none against
// a-none is what the place costs, z-rules against y-none and b-jwt what the
// rules cost. Rows alternate in a new shuffled
// order every round, both builds' rows in one shuffle; CPU per call of each
// Envoy and of the adapter (with its server process) from /proc, to the ns.
//   node dist/bench/auth/route-position.js --baseline DIR [--clients 1,16] [--rounds 2000] [--burst 50] [--max-seconds 240]
// DIR: the dist/ directory of the baseline build (compiled the same way).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FIXTURE_SERVER, RUN_ADAPTER } from '../../test/support/adapter-fixture.js';
import { startJwtIssuer } from '../../test/support/jwt-issuer.js';
import * as here from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';
import { treeCpuPreciseMs } from '../process-cpu.js';
import { percentile, seededShuffle } from '../sampling.js';
import { echoCall, RULES, timedPost } from './bench-fixtures.js';

const { body: BODY, headers: HEADERS } = echoCall('route-position-bench');

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '1,16' },
    burst: { type: 'string', default: '50' },
    'max-seconds': { type: 'string', default: '240' },
  },
});
if (values.baseline === undefined) throw new Error('--baseline DIR (the dist/ of the baseline build) is required');
const rounds = Number(values.rounds);
const burst = Number(values.burst);

function call(url: string, agent: http.Agent, headers: Record<string, string>): Promise<number> {
  return timedPost(url, agent, headers, BODY);
}

const shuffle = seededShuffle(11);

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-route-position-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [RUN_ADAPTER, '--name', 'plain', '--port', '0', '--pool', '1', '--', process.execPath, FIXTURE_SERVER],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MCPMESH_LOG_LEVEL: 'error' } },
  );
  // A failed run must not leave the adapter behind.
  process.once('exit', () => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => /listening on (\S+)/.test(out), 'adapter listening', 15_000);
  const adapterUrl = /listening on (\S+)/.exec(out)![1]!;
  const issuer = await startJwtIssuer(dir);
  const token = await issuer.sign({ sub: 'bench-agent', scope: 'tools.read' }, { expiresIn: '2h' });
  const tool = { tools: { echo: { timeout: '5s' } } };
  const config = {
    auth: { providers: { corp: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile } } } },
    servers: [
      { name: 'a-none', replicas: [adapterUrl], policy: tool },
      { name: 'b-jwt', replicas: [adapterUrl], policy: { auth: { provider: 'corp' }, ...tool } },
      ...['c', 'd', 'e', 'f', 'g', 'h'].map((p) => ({ name: `${p}-plain`, replicas: [adapterUrl], policy: tool })),
      { name: 'y-none', replicas: [adapterUrl], policy: tool },
      { name: 'z-rules', replicas: [adapterUrl], policy: { auth: RULES, ...tool } },
    ],
  };
  const baseline = (await import(pathToFileURL(join(resolve(values.baseline!), 'test/support/mesh.js')).href)) as typeof here;
  const builds = [
    { build: 'this build', mesh: await here.startMesh({ discoverTools: false, config }) },
    { build: 'baseline', mesh: await baseline.startMesh({ discoverTools: false, config }) },
  ];
  for (const { mesh } of builds)
    await until(async () => (await here.routeList(mesh.adminUrl)).some((r) => String(r['name']) === 'z-rules/tool/echo'), 'routes', 20_000);
  const withToken = { ...HEADERS, authorization: `Bearer ${token}` };
  const rows = builds.flatMap(({ build, mesh }) => {
    const envoyPids = [mesh.envoy.pid];
    return [
      { build, name: 'no auth, first', url: mesh.agentUrl('a-none'), headers: HEADERS, envoyPids },
      { build, name: 'JWT only, second', url: mesh.agentUrl('b-jwt'), headers: withToken, envoyPids },
      { build, name: 'no auth, behind 8 servers', url: mesh.agentUrl('y-none'), headers: HEADERS, envoyPids },
      { build, name: 'JWT + rules, behind 9 servers', url: mesh.agentUrl('z-rules'), headers: withToken, envoyPids },
    ];
  });
  const adapterPids = [child.pid!];
  const deadline = performance.now() + Number(values['max-seconds']) * 1000;
  const results: Record<string, unknown>[] = [];
  for (const clients of values.clients.split(',').map(Number)) {
    const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const stats = rows.map(() => ({ lat: [] as number[], envoyMs: 0, adapterMs: 0 }));
    for (const r of rows) for (let i = 0; i < 100; i++) await Promise.all(agents.map((a) => call(r.url, a, r.headers)));
    const order = rows.map((_, i) => i);
    const n = clients === 1 ? rounds : Math.max(1, Math.round(rounds / burst));
    const per = clients === 1 ? 1 : burst;
    for (let round = 0; round < n && performance.now() < deadline; round++) {
      for (const i of shuffle(order)) {
        const r = rows[i]!;
        const e0 = treeCpuPreciseMs(r.envoyPids);
        const a0 = treeCpuPreciseMs(adapterPids);
        const lat = await Promise.all(
          agents.map(async (a) => {
            const got: number[] = [];
            for (let k = 0; k < per; k++) got.push(await call(r.url, a, r.headers));
            return got;
          }),
        );
        stats[i]!.envoyMs += treeCpuPreciseMs(r.envoyPids) - e0;
        stats[i]!.adapterMs += treeCpuPreciseMs(adapterPids) - a0;
        stats[i]!.lat.push(...lat.flat());
      }
    }
    rows.forEach((r, i) => {
      const s = stats[i]!;
      const sorted = [...s.lat].sort((a, b) => a - b);
      const base = [...stats[rows.findIndex((x) => x.build === r.build)]!.lat].sort((a, b) => a - b);
      results.push({
        clients,
        build: r.build,
        row: r.name,
        calls: sorted.length,
        p50Ms: Number(percentile(sorted, 50).toFixed(3)),
        addedP50Ms: Number((percentile(sorted, 50) - percentile(base, 50)).toFixed(3)),
        envoyCpuUsPerCall: Math.round((s.envoyMs * 1000) / sorted.length),
        adapterCpuUsPerCall: Math.round((s.adapterMs * 1000) / sorted.length),
      });
    });
    for (const a of agents) a.destroy();
  }
  console.log(JSON.stringify({ rounds, burst, loadAtStart, loadAtEnd: loadavg().map((l) => Number(l.toFixed(2))), results }, null, 1));
  for (const { mesh } of builds) await mesh.stop();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
