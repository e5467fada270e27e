// Gateway comparison, side by side in one run: one stdio MCP server
// (@modelcontextprotocol/server-everything, its `echo` tool) reached
//   - directly over stdio (the limit),
//   - through the mcpmesh adapter alone (`mcpmesh adapter --pool 1`),
//   - through mcpmesh with Envoy (`mcpmesh up`: control plane, Envoy, one adapter replica, pool 1),
//   - through agentgateway (one server process per session),
//   - through supergateway 4.0 (`--stateful` Streamable HTTP) and mcp-proxy 6.7,
// under three loads of 2025-era sessions (no Mcp-Method headers): 1 client; 16 clients
// in one session; 16 clients with a session each. Closed-loop clients on loopback,
// each row bounded in time (--measure) and in calls (--max-calls).
//
// Peers are not project dependencies: bench/gateway/install-peers.sh installs them
// outside the repository (default ~/.cache/mcpmesh/peers; PEERS_DIR overrides).
// A missing peer is skipped and said so.
//
// Run: npx tsc -p . && node dist/bench/gateway/compare.js [--rounds 3] [--measure 3s]
//        [--only direct,adapter,envoy,agentgateway,supergateway,mcp-proxy] [--target NAME=URL ...] [--write]
// --rounds N runs every (load, target) cell N times, the targets alternating within a round, and
// reports the median (and the range); --target adds an endpoint that is already running.
// --write appends the result to bench/RESULTS.md under "## Gateway comparison".
// --baseline DIR (another checkout, built) adds that build's adapter and `mcpmesh up` as targets,
// each beside this build's in the alternation: before and after in one run.
// --pin CPUS (a taskset list, e.g. 1) adds this build's adapter and `mcpmesh up` run under
// `taskset -c CPUS` (the processes they start inherit it) beside the unpinned ones.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../lib/duration.js';
import { freePort } from '../../test/support/ports.js';
import { type LoadResult, type Phase, runHttp, StdioDriver, waitServing } from '../adapter/load.js';
import { mcpProxyArgs, supergatewayArgs } from '../peer-commands.js';
import { nodeRole, treeCpu } from '../process-cpu.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CLI = join(root, 'dist/cli/mcpmesh.js');
const PEERS = process.env['PEERS_DIR'] ?? join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh'), 'peers');
const CALL = { name: 'echo', arguments: { message: 'hello mcpmesh' }, expect: 'Echo: hello mcpmesh' };
const ALL = ['direct', 'adapter', 'envoy', 'agentgateway', 'supergateway', 'mcp-proxy'] as const;

const { values } = parseArgs({
  options: {
    measure: { type: 'string', default: '3s' },
    warmup: { type: 'string', default: '1s' },
    'max-calls': { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    target: { type: 'string', multiple: true, default: [] },
    write: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    pin: { type: 'string' },
  },
});
const BASELINE_CLI = values.baseline === undefined ? undefined : join(resolve(values.baseline), 'dist/cli/mcpmesh.js');
const phase: Phase = {
  warmupMs: parseDuration(values.warmup!) ?? 1000,
  measureMs: parseDuration(values.measure!) ?? 3000,
  maxCalls: Number(values['max-calls']),
};
const rounds = Math.max(1, Number(values.rounds));
const only = new Set(values.only ? values.only.split(',').map((s) => s.trim()) : ALL);
for (const o of only) if (!(ALL as readonly string[]).includes(o)) throw new Error(`--only: unknown target ${o} (${ALL.join(', ')})`);

interface Load {
  readonly label: string;
  readonly clients: number;
  readonly sharedSession: boolean;
}
const LOADS: Load[] = [
  { label: '1 client', clients: 1, sharedSession: true },
  { label: '16 clients, one session', clients: 16, sharedSession: true },
  { label: '16 clients, 16 sessions', clients: 16, sharedSession: false },
];

// ---- targets ----

interface Target {
  readonly name: string;
  readonly key: string;
  /** Runs one load; `cpuRoots` are the processes whose CPU is the target's. */
  run(load: Load, phase: Phase): Promise<LoadResult>;
  cpuRoots(): number[];
  stop(): Promise<void>;
}

class Spawned {
  readonly child: ChildProcess;
  private tail = '';
  constructor(command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...opts });
    this.child.stderr!.on('data', (c: Buffer) => (this.tail = (this.tail + c.toString()).slice(-3000)));
    process.once('exit', () => this.kill('SIGKILL'));
  }
  stderrTail(): string {
    return this.tail;
  }
  kill(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, sig);
    } catch {
      // gone
    }
  }
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    this.kill('SIGKILL');
  }
}

function httpTarget(key: string, name: string, url: string, proc: Spawned | undefined, extraRoots: () => number[] = () => []): Target {
  return {
    key,
    name,
    run: (load, ph) => runHttp(url, '2025', load.clients, ph, CALL, { sharedSession: load.sharedSession }),
    cpuRoots: () => [...(proc ? [proc.child.pid!] : []), ...extraRoots()],
    stop: async () => proc?.stop(),
  };
}

async function started(p: Spawned, url: string, what: string): Promise<void> {
  try {
    await waitServing(url, 60_000);
  } catch (err) {
    await p.stop();
    throw new Error(`${what}: ${(err as Error).message}\n${p.stderrTail()}`);
  }
}

function directTarget(): Target {
  let pids: number[] = [];
  return {
    key: 'direct',
    name: 'direct stdio (the limit)',
    async run(load, ph) {
      const n = load.sharedSession ? 1 : load.clients;
      const drivers = Array.from({ length: n }, () => new StdioDriver(process.execPath, [SERVER, 'stdio']));
      pids = drivers.map((d) => d.pid);
      try {
        await Promise.all(drivers.map((d) => d.initialize()));
        // Sixteen freshly started server processes need longer than one to get their code warm.
        const warm = n > 1 ? { ...ph, warmupMs: Math.max(ph.warmupMs, 3000) } : ph;
        return await StdioDriver.runMany(drivers, load.sharedSession ? load.clients : 1, warm, CALL);
      } finally {
        for (const d of drivers) d.stop();
        pids = [];
      }
    },
    cpuRoots: () => pids,
    stop: async () => undefined,
  };
}

/** `node ARGS`, under `taskset -c CPUS` when pinned (children inherit the CPU set). */
function nodeCommand(args: readonly string[], pin: string | undefined): [string, string[]] {
  return pin === undefined ? [process.execPath, [...args]] : ['taskset', ['-c', pin, process.execPath, ...args]];
}

async function adapterTarget(cli = CLI, key = 'adapter', suffix = '', pin?: string): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const p = new Spawned(
    ...nodeCommand(
      [cli, 'adapter', '--name', 'everything', '--port', String(port), '--pool', '1', '--', process.execPath, SERVER, 'stdio'],
      pin,
    ),
  );
  await started(p, url, 'mcpmesh adapter');
  return httpTarget(key, `mcpmesh adapter alone (pool 1)${suffix}`, url, p);
}

/** Envoy's admin endpoint says the per-tool route of `echo` is in place. */
async function waitToolRoute(adminPort: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_route_configs`);
      if ((await r.text()).includes('everything/tool/echo')) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`no tool route for echo in Envoy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function envoyTarget(cli = CLI, key = 'envoy', suffix = '', pin?: string): Promise<Target> {
  const [listen, admin, xds, api, adapterPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-gw-bench-'));
  const config = join(dir, 'mcpmesh.yaml');
  writeFileSync(
    config,
    [
      `envoy: { listenPort: ${listen}, adminPort: ${admin} }`,
      `controlPlane: { xdsPort: ${xds}, adminPort: ${api} }`,
      'servers:',
      '  - name: everything',
      '    stdio:',
      `      command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVER)}, stdio]`,
      '      pool: 1',
      '      replicas: 1',
      `      port: ${adapterPort}`,
      '',
    ].join('\n'),
  );
  const p = new Spawned(...nodeCommand([cli, 'up', '--config', config], pin), { env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' } });
  const url = `http://127.0.0.1:${listen}/mcp/everything`;
  await started(p, url, 'mcpmesh up');
  await waitToolRoute(admin, 30_000);
  // Envoy runs in a process group of its own, a child of `mcpmesh up`: the tree walk finds it.
  const t = httpTarget(key, `mcpmesh through Envoy (\`mcpmesh up\`, 1 replica, pool 1)${suffix}`, url, p);
  return {
    ...t,
    stop: async () => {
      await p.stop(20_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function agentgatewayTarget(): Promise<Target | string> {
  const bin = join(PEERS, 'bin/agentgateway');
  if (!existsSync(bin)) return `agentgateway not found at ${bin} (bench/gateway/install-peers.sh): skipped`;
  const [port, admin, stats, ready] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const dir = mkdtempSync(join(tmpdir(), 'agw-bench-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      'config:',
      `  adminAddr: 127.0.0.1:${admin}`,
      `  statsAddr: 127.0.0.1:${stats}`,
      `  readinessAddr: 127.0.0.1:${ready}`,
      '  logging: { level: warn }',
      'mcp:',
      `  port: ${port}`,
      '  targets:',
      '  - name: everything',
      '    stdio:',
      `      cmd: ${JSON.stringify(process.execPath)}`,
      `      args: [${JSON.stringify(SERVER)}, stdio]`,
      '',
    ].join('\n'),
  );
  const p = new Spawned(bin, ['-f', config], { env: { ...process.env, AGW_BIND_LOCALHOST: '1' } });
  const url = `http://127.0.0.1:${port}/mcp`;
  await started(p, url, 'agentgateway');
  const t = httpTarget('agentgateway', `agentgateway ${agentgatewayVersion(bin)} (one process per session)`, url, p);
  return {
    ...t,
    stop: async () => {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function agentgatewayVersion(bin: string): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /"version":\s*"([0-9a-f]{7})/.exec(r.stdout ?? '');
  return m ? `(${m[1]})` : '';
}

function npmPeerVersion(pkg: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(PEERS, 'npm/node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

async function supergatewayTarget(): Promise<Target | string> {
  const bin = join(PEERS, 'npm/node_modules/.bin/supergateway');
  const v = npmPeerVersion('supergateway');
  if (!existsSync(bin) || v === undefined) return `supergateway not found in ${PEERS}/npm (bench/gateway/install-peers.sh): skipped`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const p = new Spawned(bin, supergatewayArgs(`${process.execPath} ${SERVER} stdio`, port));
  await started(p, url, 'supergateway');
  return httpTarget('supergateway', `supergateway ${v} --stateful`, url, p);
}

async function mcpProxyTarget(): Promise<Target | string> {
  const bin = join(PEERS, 'npm/node_modules/.bin/mcp-proxy');
  const v = npmPeerVersion('mcp-proxy');
  if (!existsSync(bin) || v === undefined) return `mcp-proxy not found in ${PEERS}/npm (bench/gateway/install-peers.sh): skipped`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const p = new Spawned(bin, mcpProxyArgs([process.execPath, SERVER, 'stdio'], port));
  await started(p, url, 'mcp-proxy');
  return httpTarget('mcp-proxy', `mcp-proxy ${v}`, url, p);
}

// ---- run ----

interface Cell {
  readonly results: LoadResult[];
  readonly cpuMsPerCall: number[];
}

const notes: string[] = [];
const targets: Target[] = [];
const makers: Record<(typeof ALL)[number], () => Promise<Target | string>> = {
  direct: async () => directTarget(),
  adapter: () => adapterTarget(),
  envoy: () => envoyTarget(),
  agentgateway: agentgatewayTarget,
  supergateway: supergatewayTarget,
  'mcp-proxy': mcpProxyTarget,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const cells = new Map<string, Cell>();
const cellKey = (t: string, l: Load) => `${t}|${l.label}`;

/** One cell; a target that fails it (cannot open its sessions, say) gets a row of one error instead of ending the run. */
async function runCell(t: Target, load: Load, ph: Phase): Promise<LoadResult> {
  try {
    return await t.run(load, ph);
  } catch (err) {
    return { calls: 0, errors: 1, seconds: ph.measureMs / 1000, p50Ms: NaN, p99Ms: NaN, firstError: (err as Error).message.slice(0, 200) };
  }
}

async function main(): Promise<void> {
  for (const k of ALL) {
    if (!only.has(k)) continue;
    if (BASELINE_CLI !== undefined && (k === 'adapter' || k === 'envoy')) {
      const maker = k === 'adapter' ? adapterTarget : envoyTarget;
      targets.push(await maker(BASELINE_CLI, `${k}-baseline`, ', baseline'));
    }
    const t = await makers[k]();
    if (typeof t === 'string') notes.push(t);
    else targets.push(t);
    if (values.pin !== undefined && (k === 'adapter' || k === 'envoy')) {
      const maker = k === 'adapter' ? adapterTarget : envoyTarget;
      targets.push(await maker(CLI, `${k}-pinned`, `, pinned to CPU ${values.pin}`, values.pin));
    }
  }
  for (const spec of values.target!) {
    const eq = spec.indexOf('=');
    if (eq < 1) throw new Error(`--target NAME=URL, not ${spec}`);
    targets.push(httpTarget(spec.slice(0, eq), spec.slice(0, eq), spec.slice(eq + 1), undefined));
  }
  for (let round = 1; round <= rounds; round++) {
    for (const load of LOADS) {
      // Alternate the order from round to round, so no target always runs right after the same one.
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const t of order) {
        // The target's CPU over the measured phase alone (per-session processes included while they live).
        let before: Map<string, number> | undefined;
        let after: Map<string, number> | undefined;
        let t0 = 0;
        let wallMs = 0;
        const r = await runCell(t, load, {
          ...phase,
          onMeasureStart: () => {
            before = treeCpu(t.cpuRoots(), nodeRole);
            t0 = performance.now();
          },
          onMeasureEnd: () => {
            after = treeCpu(t.cpuRoots(), nodeRole);
            wallMs = performance.now() - t0;
          },
        });
        let cpu = NaN;
        let by = '';
        const b0 = before as Map<string, number> | undefined;
        const b1 = after as Map<string, number> | undefined;
        if (b0 && b1 && b1.size > 0) {
          const perCall = (ms: number) => (ms * 1000) / Math.max(1, r.calls + r.errors);
          let totalMs = 0;
          const parts: string[] = [];
          for (const [comm, ms] of b1) {
            const d = ms - (b0.get(comm) ?? 0);
            totalMs += d;
            if (d > 0) parts.push(`${comm} ${perCall(d).toFixed(0)}`);
          }
          cpu = perCall(totalMs);
          by = `  CPU µs/call ${cpu.toFixed(0)} (${parts.join(', ')}; ${((100 * totalMs) / Math.max(1, wallMs)).toFixed(0)}% of a core)`;
        }
        const c = cells.get(cellKey(t.key, load)) ?? { results: [], cpuMsPerCall: [] };
        c.results.push(r);
        c.cpuMsPerCall.push(cpu);
        cells.set(cellKey(t.key, load), c);
        process.stderr.write(
          `[${round}/${rounds}] ${load.label.padEnd(24)} ${t.name.padEnd(58)} ${(r.calls / r.seconds).toFixed(0).padStart(6)} calls/s  p50 ${r.p50Ms.toFixed(3)}  p99 ${r.p99Ms.toFixed(3)} ms  errors ${r.errors}${r.firstError ? ` (${r.firstError.slice(0, 120)})` : ''}${by}\n`,
        );
      }
    }
  }
}

function cellText(key: string, load: Load): { rate: number; p50: number; text: string } | undefined {
  const c = cells.get(cellKey(key, load));
  if (!c) return undefined;
  const rates = c.results.map((r) => r.calls / r.seconds);
  const p50s = c.results.map((r) => r.p50Ms);
  const p99s = c.results.map((r) => r.p99Ms);
  const errors = c.results.reduce((a, r) => a + r.errors, 0);
  const rate = median(rates);
  const p50 = median(p50s);
  const range = rates.length > 1 ? ` (${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)})` : '';
  return {
    rate,
    p50,
    text: `${rate.toFixed(0)}/s${range}, ${p50.toFixed(2)} / ${median(p99s).toFixed(2)} ms${errors ? `, ${errors} errors` : ''}`,
  };
}

function report(): string {
  const lines = [
    `| target | ${LOADS.map((l) => `${l.label}: calls/s, p50 / p99`).join(' | ')} |`,
    `| --- | ${LOADS.map(() => '---').join(' | ')} |`,
  ];
  for (const t of targets) lines.push(`| ${t.name} | ${LOADS.map((l) => cellText(t.key, l)?.text ?? '').join(' | ')} |`);
  const get = (k: string, l: Load) => cellText(k, l);
  const out: string[] = [];
  const [one, shared, many] = LOADS as [Load, Load, Load];
  const env1 = get('envoy', one);
  const ad1 = get('adapter', one);
  if (env1 && ad1) out.push(`Envoy's added p50 at 1 client: ${(env1.p50 - ad1.p50).toFixed(2)} ms (goal ≤ 0.2 ms).`);
  const envB = get('envoy-baseline', one);
  const adB = get('adapter-baseline', one);
  if (envB && adB) out.push(`Baseline: Envoy's added p50 at 1 client: ${(envB.p50 - adB.p50).toFixed(2)} ms.`);
  const envP = get('envoy-pinned', one);
  const adP = get('adapter-pinned', one);
  if (envP && adP) out.push(`Pinned: Envoy's added p50 at 1 client: ${(envP.p50 - adP.p50).toFixed(2)} ms.`);
  for (const l of LOADS) {
    const e = get('envoy', l);
    const a = get('agentgateway', l);
    if (e && a)
      out.push(
        `${l.label}: through Envoy ${(e.rate / a.rate).toFixed(2)}× agentgateway's calls/s, p50 ${e.p50.toFixed(2)} vs ${a.p50.toFixed(2)} ms (goal ≥ 1×, ≤).`,
      );
  }
  const ad = get('adapter', shared);
  const agw = get('agentgateway', shared);
  if (ad && agw) out.push(`16 clients, one session: adapter alone ${(ad.rate / agw.rate).toFixed(2)}× agentgateway (goal ≥ 2×).`);
  for (const l of [shared, many]) {
    const a = get('adapter', l);
    const d = get('direct', l);
    if (a && d) out.push(`${l.label}: adapter alone ${((100 * a.rate) / d.rate).toFixed(0)}% of direct stdio (goal ≥ 40%).`);
  }
  return `${lines.join('\n')}\n\n${out.join('\n')}`;
}

function machine(): string {
  const envoy = spawnSync(
    join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh'), 'envoy-venv/bin/envoy'),
    ['--version'],
    { encoding: 'utf8' },
  );
  const ev = /\/(\d+\.\d+\.\d+)\//.exec(envoy.stdout ?? '')?.[1] ?? '?';
  return `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, Envoy ${ev}`;
}

// Ctrl-C or SIGTERM still stops every target (their process groups) before exiting.
let stopping = false;
const stopAll = async () => {
  if (stopping) return;
  stopping = true;
  for (const t of targets) await t.stop().catch(() => undefined);
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stopAll().then(() => process.exit(130)));
try {
  await main();
} finally {
  await stopAll();
}
const argv = process.argv.slice(2).join(' ');
const section = [
  `### ${new Date().toISOString().slice(0, 10)}`,
  '',
  `Command: \`node dist/bench/gateway/compare.js${argv ? ` ${argv}` : ''}\` (peers installed by bench/gateway/install-peers.sh outside the repo).`,
  `Machine: ${machine()}. Warmup ${phase.warmupMs} ms, measured ${phase.measureMs} ms or ${phase.maxCalls} calls per cell, ${rounds} round(s), targets alternating; medians${rounds > 1 ? ' (range of calls/s)' : ''}.`,
  'Server: @modelcontextprotocol/server-everything over stdio, tool `echo`; 2025-era sessions (no Mcp-Method headers); closed-loop clients, one keep-alive connection each.',
  ...notes,
  '',
  report(),
  '',
].join('\n');
process.stdout.write(section);
if (values.write) {
  const file = join(root, 'bench/RESULTS.md');
  const current = readFileSync(file, 'utf8');
  const heading = '## Gateway comparison';
  const at = current.indexOf(heading);
  let next: string;
  if (at < 0) next = `${current.trimEnd()}\n\n${heading}\n\n${section}`;
  else {
    // At the end of the section: before the next "## " heading, if any.
    const end = current.indexOf('\n## ', at + heading.length);
    next = end < 0 ? `${current.trimEnd()}\n\n${section}` : `${current.slice(0, end).trimEnd()}\n\n${section}\n${current.slice(end + 1)}`;
  }
  writeFileSync(file, next);
}
