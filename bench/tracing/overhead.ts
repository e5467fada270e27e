// What tracing costs on the agent → Envoy → adapter → stdio server path: three
// meshes side by side (each a control plane, an Envoy and one adapter process
// in front of the fixture server), tracing off, on at 1% and on at 100%
// (Envoy's sampling; the adapters follow Envoy's decision), all exporting to a
// real Jaeger. Variants alternate in one run, in a new order each round, at 1
// and 16 clients; each cell is the median over rounds of a round's p50, with
// the spread across rounds beside it (the machine is shared and noisy). With
// --baseline DIR (another checkout, built), the same three meshes of that
// build too (its control plane, bootstrap and adapter), in the same shuffled
// order: before and after in one run. This build also runs 1% and 100% without
// Envoy's span per try upstream (`tracing.upstreamSpans: false`), and 0%
// (Envoy's tracer on, no request sampled: what an unsampled request costs it).
//
// CPU per call, by process (the adapter and its stdio server apart; every thread's schedstat, in ns: the clock tick of
// 10 ms would be 9 µs per call over a round's thousand calls): pooled over the
// rounds (all CPU / all calls), and as the median of each round's
// difference to the same build's "off" measured in that round (other tenants'
// load drifts within a run: a paired difference cancels most of it). Jaeger's
// idle CPU (its rate during the "off" cells, which send it nothing) is taken
// out. Envoy posts its spans once a second: a warm-up over a second
// (--warmup 1500ms) keeps one cell's spans out of the next cell's figures.
// --pin CPU puts the bench (the load, the control planes) and everything it
// starts on that CPU with `taskset`, the collector excepted, which goes to the
// other CPUs: the whole call path on one vCPU, the export's ingestion beside it.
//
// --clients 1,16 picks the client counts; --only off,1,100,0,1-noup,100-noup picks the variants by key (off, the
// percent, `-noup` without the try spans), "off" always kept as every row's reference. KEY#2 adds a second mesh
// of the same variant (`--only 1,0,off#2,1#2`): what two identical meshes differ by is the bench's own noise.
//
// --interleave measures a round's variants in one load instead of one after another: each client
// takes the meshes in turn, a call each (runHttpInterleaved), for the variants' measured times
// together, so what the machine does meanwhile meets every variant alike and the rounds'
// differences keep what the variants differ by. Jaeger serves them all at once then: its CPU is
// split evenly, so its column tells the variants nothing.
//
// Run: npx tsc -p . && node dist/bench/tracing/overhead.js [--rounds 5] [--measure 2s] [--pin 1] [--clients 1,16] [--only KEYS] [--interleave] [--baseline DIR] [--write]
// (--write replaces the "Tracing overhead" section of bench/RESULTS.md)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../lib/duration.js';
import { startJaeger } from '../../test/support/jaeger.js';
import type { Mesh } from '../../test/support/mesh.js';
import * as ownMesh from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';
import { type LoadResult, type Phase, runHttp, runHttpInterleaved, waitServing } from '../adapter/load.js';
import { treeCpuPreciseMs, treeProcesses } from '../process-cpu.js';
import { seededShuffle } from '../sampling.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURE = join(root, 'dist/test/fixtures/stdio-server.js');
const CALL = { name: 'echo', arguments: { text: 'hello mcpmesh' }, expect: 'echo: hello mcpmesh' };

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    measure: { type: 'string', default: '2s' },
    warmup: { type: 'string', default: '500ms' },
    write: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    pin: { type: 'string' },
    clients: { type: 'string', default: '1,16' },
    only: { type: 'string' },
    interleave: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const phase: Phase = { warmupMs: parseDuration(values.warmup!) ?? 500, measureMs: parseDuration(values.measure!) ?? 2000 };

interface Build {
  readonly label: string;
  readonly root: string;
  readonly startMesh: typeof ownMesh.startMesh;
}

interface Variant {
  readonly key: string;
  readonly name: string;
  /** A second (third…) mesh of the same variant: 2, 3…; absent for the first. */
  readonly copy?: number;
  readonly build: Build;
  readonly sampling: number | undefined;
  readonly upstreamSpans?: false;
  mesh?: Mesh;
  adapter?: ChildProcess;
}

const SAMPLINGS = [
  { key: 'off', name: 'off', sampling: undefined },
  { key: '1', name: 'on, 1%', sampling: 1 },
  { key: '100', name: 'on, 100%', sampling: 100 },
] as const;
/** This build only (a baseline may not know the setting). */
const THIS_BUILD_ONLY = [
  // Envoy's tracer on, no request sampled: what its unsampled requests cost it.
  { key: '0', name: 'on, 0%', sampling: 0 },
  { key: '1-noup', name: 'on, 1%, no upstream span', sampling: 1, upstreamSpans: false },
  { key: '100-noup', name: 'on, 100%, no upstream span', sampling: 100, upstreamSpans: false },
] as const;
/** [key, copy] pairs; copy 1 is a variant's first mesh. */
const ONLY =
  values.only === undefined
    ? undefined
    : ['off', ...values.only.split(',')].map((k): readonly [string, number] => {
        const [key, copy] = k.trim().split('#');
        if (![...SAMPLINGS, ...THIS_BUILD_ONLY].some((v) => v.key === key)) throw new Error(`--only: no variant "${key}"`);
        const n = copy === undefined ? 1 : Number(copy);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--only: "${k}" is not KEY or KEY#N`);
        return [key!, n];
      });

/** `taskset -a -p -c CPUS PID`: every thread of the process, and what it starts from now on. */
function pinProcess(pid: number, cpus: string): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -p -c ${cpus} ${pid}: ${r.stderr.trim()}`);
}

/** The CPUs other than `pin` (a single CPU number). */
function otherCpus(pin: string): string {
  const others = cpus()
    .map((_, i) => i)
    .filter((i) => String(i) !== pin);
  if (others.length === 0) throw new Error(`--pin ${pin} leaves no CPU for the collector`);
  return others.join(',');
}
const CLIENTS = values.clients!.split(',').map((c) => {
  const n = Number(c);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--clients: "${c}" is not a client count`);
  return n;
});

async function startAdapter(build: Build, collector: string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const args = [
    join(build.root, 'dist/test/fixtures/run-adapter.js'),
    '--name',
    'bench',
    '--port',
    '0',
    '--pool',
    '1',
    ...(collector ? ['--tracing-collector', collector] : []),
    '--',
    process.execPath,
    FIXTURE,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' } });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => /listening on (\S+)/.test(out), 'the adapter listening', 15_000);
  return { child, url: /listening on (\S+)/.exec(out)![1]! };
}

type Proc = 'envoy' | 'adapter' | 'server' | 'jaeger';
const PROCS: readonly Proc[] = ['envoy', 'adapter', 'server', 'jaeger'];

/** One variant at one client count in one round. */
interface Cell {
  readonly p50: number;
  readonly p99: number;
  readonly calls: number;
  readonly seconds: number;
  readonly cpuMs: Readonly<Record<Proc, number>>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const builds: Build[] = [{ label: 'this build', root, startMesh: ownMesh.startMesh }];
  if (values.baseline !== undefined) {
    const base = resolve(values.baseline);
    const m = (await import(pathToFileURL(join(base, 'dist/test/support/mesh.js')).href)) as typeof ownMesh;
    builds.unshift({ label: 'baseline', root: base, startMesh: m.startMesh });
  }
  const VARIANTS: Variant[] = builds
    .flatMap((build) => [
      ...SAMPLINGS.map((s) => ({ ...s, build })),
      ...(build.root === root ? THIS_BUILD_ONLY.map((s) => ({ ...s, build })) : []),
    ])
    .flatMap((v) => {
      if (ONLY === undefined) return [v];
      const copies = [...new Set(ONLY.filter(([k]) => k === v.key).map(([, n]) => n))].sort((a, b) => a - b);
      return copies.map((n) => (n === 1 ? v : { ...v, name: `${v.name} (mesh #${n})`, copy: n }));
    });
  const label = (v: Variant) => (builds.length > 1 ? `${v.build.label}, ${v.name}` : v.name);
  if (values.pin !== undefined) pinProcess(process.pid, values.pin);
  const jaeger = await startJaeger();
  if (values.pin !== undefined) pinProcess(jaeger.pid, otherCpus(values.pin));
  try {
    for (const v of VARIANTS) {
      const a = await startAdapter(v.build, v.sampling === undefined ? undefined : jaeger.otlpUrl);
      v.adapter = a.child;
      v.mesh = await v.build.startMesh({
        config: { servers: [{ name: 'bench', replicas: [a.url] }] },
        ...(v.sampling !== undefined
          ? {
              observability: {
                tracing: {
                  collector: jaeger.otlpUrl,
                  sampling: v.sampling,
                  ...(v.upstreamSpans === false ? { upstreamSpans: false } : {}),
                },
              },
            }
          : {}),
      });
      await waitServing(v.mesh.agentUrl('bench'), 20_000);
    }
    // CPU of each process on the path while measured: Envoy, the adapter, its stdio server, the collector.
    const sample = (v: Variant): Record<Proc, number> => {
      const adapterPid = v.adapter!.pid!;
      const serverPids = treeProcesses([adapterPid])
        .filter((p) => p.pid !== adapterPid)
        .map((p) => p.pid);
      const server = treeCpuPreciseMs(serverPids);
      return {
        envoy: treeCpuPreciseMs([v.mesh!.envoy.pid]),
        adapter: treeCpuPreciseMs([adapterPid]) - server,
        server,
        jaeger: treeCpuPreciseMs([jaeger.pid]),
      };
    };
    const minus = (a: Record<Proc, number>, b: Record<Proc, number>) =>
      Object.fromEntries(PROCS.map((k) => [k, a[k] - b[k]])) as Record<Proc, number>;
    // One record per (variant, clients) and round.
    const records = new Map<string, Cell[]>();
    const keep = (v: Variant, clients: number, round: number, r: LoadResult, cpuMs: Record<Proc, number>) => {
      if (r.errors > 0) throw new Error(`${label(v)} c=${clients}: ${r.errors} errors (${r.firstError ?? ''})`);
      const key = `${label(v)}|${clients}`;
      const cell: Cell = { p50: r.p50Ms, p99: r.p99Ms, calls: r.calls, seconds: r.seconds, cpuMs };
      (records.get(key) ?? records.set(key, []).get(key)!).push(cell);
      process.stderr.write(
        `round ${round + 1} ${label(v).padEnd(30)} c=${String(clients).padStart(2)}  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  ${(r.calls / r.seconds).toFixed(0)} calls/s\n`,
      );
    };
    const shuffle = seededShuffle(17);
    for (let round = 0; round < rounds; round++) {
      const order = shuffle([...VARIANTS]);
      for (const clients of CLIENTS) {
        if (values.interleave) {
          // Every variant in one load, a call each in turn: Jaeger's CPU is then the whole load's, shared.
          let before: Record<Proc, number>[] = [];
          let cpu: Record<Proc, number>[] = [];
          const results = await runHttpInterleaved(
            order.map((v) => v.mesh!.agentUrl('bench')),
            clients,
            {
              ...phase,
              measureMs: phase.measureMs * order.length,
              onMeasureStart: () => (before = order.map(sample)),
              onMeasureEnd: () => (cpu = order.map((v, i) => minus(sample(v), before[i]!))),
            },
            CALL,
          );
          for (const [i, v] of order.entries()) keep(v, clients, round, results[i]!, { ...cpu[i]!, jaeger: cpu[i]!.jaeger / order.length });
          continue;
        }
        for (const v of order) {
          let before = sample(v);
          let cpu = before;
          const r = await runHttp(
            v.mesh!.agentUrl('bench'),
            '2026',
            clients,
            {
              ...phase,
              onMeasureStart: () => (before = sample(v)),
              onMeasureEnd: () => (cpu = minus(sample(v), before)),
            },
            CALL,
          );
          keep(v, clients, round, r, cpu);
        }
      }
    }
    const signed = (x: number, digits: number) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
    const spread = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
    const lines = [
      "| tracing | clients | p50 ms (median of rounds) | p50 vs off (median of the rounds' differences) | that difference's spread (min–max) | p99 ms (median) | calls/s (median) |",
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    const cpuLines = [
      "| tracing | clients | calls (all rounds) | CPU µs per call, pooled: Envoy / adapter / its server / Jaeger (net of its idle rate) | vs off, median of the rounds' differences: Envoy / adapter / its server / Jaeger | Envoy's difference, spread (min–max) |",
      '| --- | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const clients of CLIENTS) {
      for (const v of VARIANTS) {
        const cells = records.get(`${label(v)}|${clients}`)!;
        const offCells = records.get(`${label({ ...v, name: 'off' })}|${clients}`)!;
        // Jaeger gets nothing from an "off" mesh: its CPU then is its idle rate, taken out of every cell.
        const idleJaeger = offCells.reduce((a, c) => a + c.cpuMs.jaeger, 0) / offCells.reduce((a, c) => a + c.seconds, 0);
        const perCall = (c: Cell, k: Proc) =>
          ((k === 'jaeger' ? c.cpuMs.jaeger - idleJaeger * c.seconds : c.cpuMs[k]) * 1000) / Math.max(1, c.calls);
        const pooled = (cs: Cell[], k: Proc) => {
          const ms = cs.reduce((a, c) => a + (k === 'jaeger' ? c.cpuMs.jaeger - idleJaeger * c.seconds : c.cpuMs[k]), 0);
          return (
            (ms * 1000) /
            Math.max(
              1,
              cs.reduce((a, c) => a + c.calls, 0),
            )
          );
        };
        // A second "off" mesh ("off (mesh #2)") is a row like the others, against the first.
        const isOff = v.name === 'off';
        const p50Diffs = cells.map((c, i) => c.p50 - offCells[i]!.p50);
        lines.push(
          `| ${label(v)} | ${clients} | ${median(cells.map((c) => c.p50)).toFixed(3)} | ${isOff ? '' : signed(median(p50Diffs), 3)} | ${
            isOff
              ? spread(
                  cells.map((c) => c.p50),
                  3,
                )
              : spread(p50Diffs, 3)
          } | ${median(cells.map((c) => c.p99)).toFixed(3)} | ${median(cells.map((c) => c.calls / c.seconds)).toFixed(0)} |`,
        );
        const diffs = (k: Proc) => cells.map((c, i) => perCall(c, k) - perCall(offCells[i]!, k));
        cpuLines.push(
          `| ${label(v)} | ${clients} | ${cells.reduce((a, c) => a + c.calls, 0)} | ${PROCS.map((k) => pooled(cells, k).toFixed(1)).join(' / ')} | ${isOff ? '' : PROCS.map((k) => signed(median(diffs(k)), 1)).join(' / ')} | ${isOff ? '' : spread(diffs('envoy'), 1)} |`,
        );
      }
    }
    lines.push('', ...cpuLines);
    const table = lines.join('\n');
    process.stdout.write(`${table}\n`);
    if (values.write) {
      const file = join(root, 'bench/RESULTS.md');
      const text = readFileSync(file, 'utf8');
      const section = `## Tracing overhead\n\nAgent → Envoy → adapter → stdio server (\`echo\` of the fixture server, 2026-07-28 calls), meshes side by side exporting to a real Jaeger v2: tracing off, Envoy sampling 1%, Envoy sampling 100% (the adapter follows Envoy's decision; 100% means a span per call in Envoy, one per try upstream, one in the adapter, and the context spliced into the call's \`_meta\`), 1% and 100% without Envoy's span per try (\`tracing.upstreamSpans: false\`), and 0% (Envoy's tracer on, no request sampled); CPU per call with the adapter and its stdio server apart. ${values.pin !== undefined ? `The bench and the meshes pinned to CPU ${values.pin}, Jaeger to the others. ` : ''}${rounds} rounds, each measuring every variant for ${values.measure} after ${values.warmup} of warm-up, in a new order each round; ${cpus().length} cores, shared with other work. ${builds.length > 1 ? `Each build's "off" is its own reference for "vs off". ` : ''}Run: \`node dist/bench/tracing/overhead.js --rounds ${rounds} --measure ${values.measure}${values.pin !== undefined ? ` --pin ${values.pin}` : ''}${builds.length > 1 ? ' --baseline DIR' : ''} --write\`.\n\n${table}\n`;
      const start = text.indexOf('## Tracing overhead');
      const next = start < 0 ? -1 : text.indexOf('\n## ', start + 1);
      const out = start < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start)}${section}${next < 0 ? '' : text.slice(next)}`;
      writeFileSync(file, out);
    }
  } finally {
    for (const v of VARIANTS) {
      await v.mesh?.stop();
      v.adapter?.kill('SIGTERM');
    }
    await jaeger.stop();
  }
}

await main();
