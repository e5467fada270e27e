// Sampled requests through a second connection manager (control-plane/envoy/trace-split.ts),
// against one traced connection manager: Envoy's CPU per call. Envoy alone in
// front of a fixed upstream (in this process), each variant its own Envoy
// with a static bootstrap made from the control plane's own builders
// (listener.ts, routes.ts, clusters.ts, observability.ts, trace-split.ts),
// in a new order each round, one Jaeger for all. "One traced HCM" is the
// listener the control plane builds at 100% with its percent set to the
// variant's: what every percent got before the split. "Split" is what it
// builds below 100% (the edge with the split routes first, the traced
// internal listener with the mesh's routes, the hop cluster); at 100% the
// control plane builds no split, the bench builds one to measure it.
//
// Run: npx tsc -p . && node dist/bench/tracing/trace-split.js [--rounds 7] [--measure 2s] [--clients 1,16] [--only KEY,...] [--check]
// --only: the variants' keys (see ALL; off is always measured, off-2 only when named).
// The split-1-no-* probes take one of the split's pieces off the edge (its routes, its context
// mutations, its access log filter): what an untraced request pays for each.
// --check: before measuring, a few requests per variant, each kind of context, and what the
// access log and Jaeger show for them.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCatalog } from '../../control-plane/catalog/catalog-builder.js';
import { buildCluster } from '../../control-plane/envoy/clusters.js';
import { buildLoadAssignment } from '../../control-plane/envoy/endpoints.js';
import { buildListener, buildTracedListener } from '../../control-plane/envoy/listener.js';
import { collectorCluster } from '../../control-plane/envoy/observability.js';
import { struct } from '../../control-plane/envoy/proto-values.js';
import { buildRouteConfiguration } from '../../control-plane/envoy/routes.js';
import { tracedHopCluster, tracedHopRoutes, untracedContextMutations } from '../../control-plane/envoy/trace-split.js';
import { envoyRoot, packAny } from '../../control-plane/xds/api/envoy-protos.js';
import { locateEnvoy } from '../../envoy/envoy-process.js';
import { parseDuration } from '../../lib/duration.js';
import { spawnGuarded } from '../../lib/guarded-spawn.js';
import { startJaeger } from '../../test/support/jaeger.js';
import { freePort } from '../../test/support/ports.js';
import { serverSpec } from '../../test/support/specs.js';
import { type Phase, waitServing } from '../adapter/load.js';
import { seededShuffle } from '../sampling.js';
import { envoyCpuRun } from './envoy-cpu-run.js';
import { startFixedUpstream } from './fixed-upstream.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    measure: { type: 'string', default: '2s' },
    warmup: { type: 'string', default: '1500ms' },
    clients: { type: 'string', default: '1,16' },
    only: { type: 'string' },
    check: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const clientCounts = values.clients!.split(',').map(Number);
const phase: Phase = { warmupMs: parseDuration(values.warmup!) ?? 1500, measureMs: parseDuration(values.measure!) ?? 2000 };
// Every run alternates the rows in the same orders, so two runs compare.
const shuffle = seededShuffle(7);

type Json = Record<string, unknown>;

interface Variant {
  readonly key: string;
  readonly label: string;
  /** Envoy's sampling percent; undefined: tracing off. */
  readonly sampling: number | undefined;
  readonly split: boolean;
  readonly traceparent?: string;
  /** Probes: the split's edge without one of its pieces, to find what its untraced requests pay for. */
  readonly without?: 'routes' | 'mutations' | 'log-filter';
}

const AGENT_SAMPLED = `00-${'0af7651916cd43dd8448eb211c80319c'}-b7ad6b7169203331-01`;
const ALL: Variant[] = [
  { key: 'off', label: 'off', sampling: undefined, split: false },
  // A second Envoy of the same variant: what two identical ones differ by.
  { key: 'off-2', label: 'off (a second Envoy)', sampling: undefined, split: false },
  { key: 'today-0', label: 'one traced HCM (today), 0%', sampling: 0, split: false },
  { key: 'today-1', label: 'one traced HCM (today), 1%', sampling: 1, split: false },
  { key: 'today-100', label: 'one traced HCM (today), 100%', sampling: 100, split: false },
  { key: 'split-0', label: 'split, 0%', sampling: 0, split: true },
  { key: 'split-1', label: 'split, 1%', sampling: 1, split: true },
  { key: 'split-100', label: 'split, 100%', sampling: 100, split: true },
  {
    key: 'today-1-agent',
    label: "one traced HCM (today), 1%, agent's -01 on every request",
    sampling: 1,
    split: false,
    traceparent: AGENT_SAMPLED,
  },
  { key: 'split-1-agent', label: "split, 1%, agent's -01 on every request", sampling: 1, split: true, traceparent: AGENT_SAMPLED },
  { key: 'split-1-no-routes', label: 'split, 1%, edge without the split routes (probe)', sampling: 1, split: true, without: 'routes' },
  {
    key: 'split-1-no-mutations',
    label: 'split, 1%, edge without its context mutations (probe)',
    sampling: 1,
    split: true,
    without: 'mutations',
  },
  {
    key: 'split-1-no-log-filter',
    label: "split, 1%, edge's access log unfiltered (probe)",
    sampling: 1,
    split: true,
    without: 'log-filter',
  },
];
const only = values.only ? new Set(values.only.split(',')) : undefined;
const VARIANTS = ALL.filter((v) => (only === undefined ? v.key !== 'off-2' : only.has(v.key) || v.key === 'off'));

function hcmOf(listener: Json): Json {
  const chains = listener['filter_chains'] as Array<{ filters: Array<{ typed_config: Json }> }>;
  return chains[0]!.filters[0]!.typed_config;
}

/** A listener with its routes inline instead of over RDS. */
function withRoutes(listener: Json, routeConfig: Json, head: readonly object[] = []): Json {
  const hcm = hcmOf(listener);
  delete hcm['rds'];
  const routes = structuredClone(routeConfig);
  (routes['virtual_hosts'] as Array<{ routes: object[] }>)[0]!.routes.unshift(...head);
  hcm['route_config'] = routes;
  return listener;
}

/** The edge's identity strip without what the split appends to it (untracedContextMutations). */
function dropUntracedMutations(hcm: Json): void {
  const filters = hcm['http_filters'] as Array<{ name: string; typed_config: Json }>;
  const strip = filters.find((f) => f.name === 'envoy.filters.http.header_mutation')!;
  const fields = (strip.typed_config['value'] as Json)['fields'] as Json;
  const mutations = (((fields['mutations'] as Json)['structValue'] as Json)['fields'] as Json)['request_mutations'] as Json;
  const list = (mutations['listValue'] as { values: unknown[] }).values;
  const added = untracedContextMutations().length;
  list.splice(list.length - added, added);
}

function bootstrap(v: Variant, port: number, adminPort: number, upstreamPort: number, collector: string, logPath: string): Json {
  const catalog = buildCatalog({ servers: new Map([['bench', serverSpec('bench', [upstreamPort])]]) }, new Map());
  const server = catalog.servers[0]!;
  const routeConfig = buildRouteConfiguration(catalog) as Json;
  const { eds_cluster_config: _eds, ...cluster } = buildCluster(server) as Json;
  const serverCluster = { ...cluster, type: 'STATIC', load_assignment: buildLoadAssignment(server) };
  const accessLog = { path: logPath, sampling: 100 };
  const tracing =
    v.sampling === undefined ? undefined : { collector, sampling: v.sampling, serviceName: 'mcpmesh-envoy', upstreamSpans: true };
  const listeners: Json[] = [];
  if (tracing && v.split) {
    // Built below 100% (the control plane splits only there), the variant's percent set.
    const opts = {
      address: '127.0.0.1',
      port,
      observability: { tracing: { ...tracing, sampling: Math.min(tracing.sampling, 50) }, accessLog },
    };
    const edge = withRoutes(buildListener(opts) as Json, routeConfig, v.without === 'routes' ? [] : tracedHopRoutes(tracing.sampling));
    if (v.without === 'mutations') dropUntracedMutations(hcmOf(edge));
    if (v.without === 'log-filter') for (const log of hcmOf(edge)['access_log'] as Json[]) delete log['filter'];
    listeners.push(edge);
    const traced = withRoutes(buildTracedListener(opts) as Json, routeConfig);
    ((hcmOf(traced)['tracing'] as Json)['random_sampling'] as { value: number }).value = tracing.sampling;
    listeners.push(traced);
  } else {
    // Today's one traced connection manager at any percent: the control plane's at 100%, its percent set.
    const opts = { address: '127.0.0.1', port, observability: { tracing: tracing && { ...tracing, sampling: 100 }, accessLog } };
    const listener = withRoutes(buildListener(opts) as Json, routeConfig);
    if (tracing) ((hcmOf(listener)['tracing'] as Json)['random_sampling'] as { value: number }).value = tracing.sampling;
    listeners.push(listener);
  }
  const clusters = [serverCluster, ...(tracing ? [collectorCluster(tracing)] : []), ...(v.split ? [tracedHopCluster()] : [])];
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    ...(v.split
      ? {
          bootstrap_extensions: [
            {
              name: 'envoy.bootstrap.internal_listener',
              typed_config: { '@type': 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener' },
            },
          ],
        }
      : {}),
    static_resources: { listeners, clusters },
    // As envoy/bootstrap.ts sets them.
    layered_runtime: {
      layers: [
        {
          name: 'mcpmesh',
          static_layer: struct({ 'tracing.opentelemetry.flush_interval_ms': 1000, 'tracing.opentelemetry.min_flush_spans': 1000 }),
        },
      ],
    },
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

/** The protos of the bootstrap and of the internal listener and transport, beside the xDS resources' own. */
function loadBootstrapProtos(): void {
  const root = envoyRoot();
  root.loadSync(
    [
      'envoy/config/bootstrap/v3/bootstrap.proto',
      'envoy/extensions/bootstrap/internal_listener/v3/internal_listener.proto',
      'envoy/extensions/transport_sockets/internal_upstream/v3/internal_upstream.proto',
      'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
    ],
    { keepCase: true },
  );
  root.resolveAll();
}

/** Envoy on a binary bootstrap (encoded with the protos, so every field is checked), serving once its admin answers. */
async function startStaticEnvoy(
  file: string,
  adminPort: number,
  basePort: number,
): Promise<{ pid: number; child: ChildProcess; tail: () => string }> {
  let tail = '';
  const child = spawnGuarded(
    locateEnvoy(),
    [
      '-c',
      file,
      '--disable-hot-restart',
      '-l',
      'warning',
      '--file-flush-interval-msec',
      '1000',
      '--concurrency',
      '1',
      '--base-id',
      String(basePort),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString()).slice(-4000)));
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Envoy exited: ${tail}`);
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/ready`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`Envoy not ready: ${tail}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid!, child, tail: () => tail };
}

async function stopEnvoy(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

interface Running {
  readonly v: Variant;
  readonly envoy: { pid: number; child: ChildProcess };
  readonly url: string;
  readonly logPath: string;
}

interface LogLine {
  readonly trace_id: string | null;
  readonly route: string | null;
}

function logLines(path: string): LogLine[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogLine);
}

/** One 2025-era tools/call with these headers. */
async function post(url: string, headers: Record<string, string>): Promise<number> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } }),
  });
  await r.text();
  return r.status;
}

/** Each kind of context through a variant: what is logged, with which trace id, and what Jaeger got. */
async function check(r: Running, jaeger: Awaited<ReturnType<typeof startJaeger>>): Promise<string> {
  const before = logLines(r.logPath).length;
  const plain = 300;
  for (let i = 0; i < plain; i++) await post(r.url, {});
  const n = String(ALL.indexOf(r.v)).padStart(4, '0');
  const sampledId = `${n}${'a'.repeat(28)}`;
  const unsampledId = `${n}${'b'.repeat(28)}`;
  const s1 = await post(r.url, { traceparent: `00-${sampledId}-${'1'.repeat(16)}-01` });
  const s2 = await post(r.url, { traceparent: `00-${unsampledId}-${'2'.repeat(16)}-00` });
  const s3 = await post(r.url, { traceparent: 'not-a-traceparent', 'x-client-trace-id': 'true' });
  const s4 = await post(r.url, { 'x-client-trace-id': 'agent' });
  await new Promise((res) => setTimeout(res, 2_500));
  const lines = logLines(r.logPath).slice(before);
  const last = lines[lines.length - 1]?.trace_id ?? null;
  const forced = last !== null && last !== '-' ? (await jaeger.trace(last)).length : 0;
  const plainLines = lines.slice(0, plain);
  const ids = plainLines.map((l) => l.trace_id).filter((id): id is string => id !== null && id !== '-');
  let recorded = 0;
  for (const id of ids) if ((await jaeger.trace(id)).length > 0) recorded++;
  const idOf = (id: string) => lines.some((l) => l.trace_id === id);
  const sampledSpans = (await jaeger.trace(sampledId)).length;
  const unsampledSpans = (await jaeger.trace(unsampledId)).length;
  return [
    `- ${r.v.label}: ${lines.length} log lines for ${plain + 4} requests (statuses ${s1}/${s2}/${s3});`,
    `  no context: ${ids.length} of ${plain} lines with a trace id, ${recorded} of them in Jaeger;`,
    `  agent -01: trace id in the log ${idOf(sampledId)}, ${sampledSpans} span(s) in Jaeger;`,
    `  agent -00: trace id in the log ${idOf(unsampledId)}, ${unsampledSpans} span(s) in Jaeger;`,
    `  unparsable + agent's x-client-trace-id: trace id ${String(lines[lines.length - 2]?.trace_id)}, route ${String(lines[lines.length - 2]?.route)};`,
    `  no context + agent's x-client-trace-id (status ${s4}): trace id ${String(last)}, ${forced} span(s) in Jaeger`,
  ].join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-trace-split-'));
const jaeger = await startJaeger();
const upstream = await startFixedUpstream();
const upstreamPort = (upstream.address() as AddressInfo).port;
const running: Running[] = [];
const startLoad = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const startedAt = new Date().toISOString();
loadBootstrapProtos();
try {
  for (const v of VARIANTS) {
    const [port, adminPort] = await Promise.all([freePort(), freePort()]);
    const logPath = join(dir, `${v.key}.log`);
    const file = join(dir, `${v.key}.pb`);
    writeFileSync(
      file,
      packAny(
        'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap',
        bootstrap(v, port, adminPort, upstreamPort, jaeger.otlpUrl, logPath),
      ).value,
    );
    // One worker: what `mcpmesh up` runs on a host of two cores (envoy/envoy-workers.ts).
    const envoy = await startStaticEnvoy(file, adminPort, port);
    const url = `http://127.0.0.1:${port}/mcp/bench`;
    running.push({ v, envoy, url, logPath });
    await waitServing(url, 20_000);
  }
  if (values.check) {
    const out: string[] = [];
    for (const r of running) out.push(await check(r, jaeger));
    process.stdout.write(`${out.join('\n')}\n\n`);
  }
  for (const clients of clientCounts) {
    const perCall = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    const p50 = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    for (let round = 0; round < rounds; round++) {
      for (const r of shuffle([...running])) {
        const res = await envoyCpuRun(r.v.key, r.url, r.envoy.pid!, clients, phase, r.v.traceparent);
        perCall.get(r.v.key)!.push(res.usPerCall);
        p50.get(r.v.key)!.push(res.p50Ms);
        process.stderr.write(
          `${clients} cl round ${round + 1} ${r.v.label.padEnd(58)} ${res.usPerCall.toFixed(1)} µs/call  p50 ${res.p50Ms.toFixed(3)} ms\n`,
        );
      }
    }
    const off = perCall.get('off')!;
    const lines = [
      `| Envoy, ${clients} client${clients > 1 ? 's' : ''} | CPU µs per call (median of ${rounds}) | vs off (median of the rounds' differences) | spread (min–max) | vs today's HCM at the same % and context (median of differences) | spread | p50 ms (median) |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const v of VARIANTS) {
      const xs = perCall.get(v.key)!;
      const d = xs.map((x, i) => x - off[i]!);
      const todayKey = v.split ? v.key.replace('split', 'today') : undefined;
      const today = todayKey !== undefined ? perCall.get(todayKey) : undefined;
      const dt = today ? xs.map((x, i) => x - today[i]!) : undefined;
      const isOff = v.key === 'off';
      lines.push(
        `| ${v.label} | ${median(xs).toFixed(1)} | ${isOff ? '' : signed(median(d))} | ${isOff ? '' : `${Math.min(...d).toFixed(1)}–${Math.max(...d).toFixed(1)}`} | ${dt ? signed(median(dt)) : ''} | ${dt ? `${Math.min(...dt).toFixed(1)}–${Math.max(...dt).toFixed(1)}` : ''} | ${median(p50.get(v.key)!).toFixed(3)} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
  const endLoad = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  process.stdout.write(
    `Started ${startedAt}, ended ${new Date().toISOString()}; load average at start ${startLoad}, at end ${endLoad}; ${rounds} rounds, warm-up ${phase.warmupMs} ms, measured ${phase.measureMs} ms per cell.\n`,
  );
} finally {
  for (const r of running) await stopEnvoy(r.envoy.child);
  upstream.close();
  await jaeger.stop();
  rmSync(dir, { recursive: true, force: true });
}
