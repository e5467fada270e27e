// What Envoy's hop costs, piece by piece: one real adapter (`mcpmesh adapter
// --pool 1` over server-everything) behind several Envoys with static
// bootstraps, each a step further towards the listener and routes the control
// plane sends (built by control-plane/envoy/ itself, not copied), measured in
// one run with the variants alternating: router only, + json_to_metadata, +
// the mesh's route table, + the stateful-session envelope, + the identity
// header strip, + the local rate limit filter (the full chain), and the full
// chain with one worker. The `mcp*` rows put Envoy 1.40's own MCP filter in
// json_to_metadata's place (mcp-filter-chain.ts), alone and in the full chain.
// Transport rows put the full chain (and the router
// alone) in front of a minimal echo endpoint (echo-upstream.ts) over HTTP/1.1,
// h2c and a Unix socket, so that only the HTTP stack differs. Rows marked
// "probe" remove something the mesh needs, to locate a cost; they are not
// candidates.
//
// Per cell: calls/s, p50, and CPU µs per call of Envoy and of the node side
// (adapter + server, or the echo endpoint), read from /proc. At the end, the
// counters of each Envoy that say how it spent the calls (connections,
// retries, buffering, health checks).
//
// Run: npx tsc -p . && node dist/bench/gateway/envoy-filters.js [--rounds 3] [--measure 3s] [--warmup 1s]
//        [--clients 1,16,16s] [--only KEY,...]
// --clients: N clients in one session, or Ns with a session each. --only: the variants' keys (see
// VARIANTS), plus 'adapter' and 'echo-direct' for the rows without Envoy.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCatalog } from '../../control-plane/catalog/catalog-builder.js';
import type { CatalogServer } from '../../control-plane/catalog/model.js';
import { buildCluster } from '../../control-plane/envoy/clusters.js';
import { buildLoadAssignment } from '../../control-plane/envoy/endpoints.js';
import { buildListener } from '../../control-plane/envoy/listener.js';
import { duration } from '../../control-plane/envoy/proto-values.js';
import { buildRouteConfiguration, VIRTUAL_HOST } from '../../control-plane/envoy/routes.js';
import { listToolsOverHttp } from '../../control-plane/tools/tool-discovery.js';
import { encodePartial, lengthDelimitedHeader, packAny } from '../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../control-plane/xds/api/type-urls.js';
import { locateEnvoy } from '../../envoy/envoy-process.js';
import { parseDuration } from '../../lib/duration.js';
import { freePort } from '../../test/support/ports.js';
import { serverSpec } from '../../test/support/specs.js';
import { type LoadResult, type Phase, runHttp, waitServing } from '../adapter/load.js';
import { treeCpu } from '../process-cpu.js';
import { useMcpFilter } from './mcp-filter-chain.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CLI = join(root, 'dist/cli/mcpmesh.js');
const ECHO = join(root, 'dist/bench/gateway/echo-upstream.js');
const CALL = { name: 'echo', arguments: { message: 'hello mcpmesh' }, expect: 'Echo: hello mcpmesh' };

const { values } = parseArgs({
  options: {
    measure: { type: 'string', default: '3s' },
    warmup: { type: 'string', default: '1s' },
    'max-calls': { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    clients: { type: 'string', default: '1,16' },
  },
});
const phase: Phase = {
  warmupMs: parseDuration(values.warmup!) ?? 1000,
  measureMs: parseDuration(values.measure!) ?? 3000,
  maxCalls: Number(values['max-calls']),
};
const rounds = Math.max(1, Number(values.rounds));
/** `N`: N clients in one session; `Ns`: N clients with a session each. */
const loads = values.clients!.split(',').map((l) => ({ label: l, clients: Number.parseInt(l, 10), sharedSession: !l.endsWith('s') }));

// ---- processes ----

class Proc {
  readonly child: ChildProcess;
  private tail = '';
  constructor(command: string, args: readonly string[]) {
    this.child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child.stderr!.on('data', (c: Buffer) => (this.tail = (this.tail + c.toString()).slice(-3000)));
    process.once('exit', () => this.signal('SIGKILL'));
  }
  get pid(): number {
    return this.child.pid!;
  }
  stderrTail(): string {
    return this.tail;
  }
  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.child.pid!, sig);
    } catch {
      // gone
    }
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.signal('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    this.signal('SIGKILL');
  }
}

// ---- Envoy's static bootstrap, from the control plane's own builders ----

type Json = Record<string, unknown>;

const FILTER = {
  strip: 'envoy.filters.http.header_mutation',
  keys: 'envoy.filters.http.json_to_metadata',
  rateLimit: 'envoy.filters.http.local_ratelimit',
  session: 'envoy.filters.http.stateful_session',
  router: 'envoy.filters.http.router',
} as const;

type Upstream = { kind: 'tcp'; port: number; h2c?: boolean } | { kind: 'pipe'; path: string };

interface EnvoyVariant {
  readonly key: string;
  readonly label: string;
  /** The listener's filters kept, by name, in the chain's order. */
  readonly filters: readonly string[];
  /** The mesh's route table (every tool route, the header checks) or one route for the server. */
  readonly meshRoutes: boolean;
  readonly concurrency: number;
  /** 'adapter': the real adapter; else an echo endpoint of this transport. */
  readonly upstream: 'adapter' | 'echo-h1' | 'echo-h2c' | 'echo-uds';
  /** A candidate change on top of the chain: edits the connection manager's config in place. */
  readonly tweak?: (hcm: Json) => void;
}

function meshRoutesOf(hcm: Json): { routes: Json[] } {
  return ((hcm['route_config'] as Json)['virtual_hosts'] as Array<{ routes: Json[] }>)[0]!;
}

function routerConfig(hcm: Json): Json {
  const router = (hcm['http_filters'] as Array<{ name: string; typed_config: Json }>).find((f) => f.name === FILTER.router)!;
  return router.typed_config;
}

const FULL = [FILTER.strip, FILTER.keys, FILTER.rateLimit, FILTER.session, FILTER.router];
const VARIANTS: EnvoyVariant[] = [
  { key: 'router', label: 'router only, one route', filters: [FILTER.router], meshRoutes: false, concurrency: 2, upstream: 'adapter' },
  {
    key: 'keys',
    label: '+ json_to_metadata',
    filters: [FILTER.keys, FILTER.router],
    meshRoutes: false,
    concurrency: 2,
    upstream: 'adapter',
  },
  {
    key: 'routes',
    label: "+ the mesh's route table",
    filters: [FILTER.keys, FILTER.router],
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
  },
  {
    key: 'session',
    label: '+ stateful_session envelope',
    filters: [FILTER.keys, FILTER.session, FILTER.router],
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
  },
  {
    key: 'strip',
    label: '+ identity-header strip',
    filters: [FILTER.strip, FILTER.keys, FILTER.session, FILTER.router],
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
  },
  {
    key: 'full',
    label: '+ local rate limit (the full chain)',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
  },
  { key: 'full-c1', label: 'full chain, --concurrency 1', filters: FULL, meshRoutes: true, concurrency: 1, upstream: 'adapter' },
  {
    key: 'routes-no-2026-checks',
    label: 'mesh routes without the 2026 header checks (probe)',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      const vh = meshRoutesOf(hcm);
      vh.routes = vh.routes.filter((r) => !String(r['name']).includes('/header-mismatch/'));
    },
  },
  {
    key: 'routes-no-host-predicate',
    label: 'mesh routes, retries without previous_hosts (probe)',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      for (const r of meshRoutesOf(hcm).routes) {
        const policy = (r['route'] as Json | undefined)?.['retry_policy'] as Json | undefined;
        if (policy) {
          delete policy['retry_host_predicate'];
          delete policy['host_selection_retry_max_attempts'];
        }
      }
    },
  },
  {
    key: 'routes-no-route-stats',
    label: 'mesh routes without per-route stats (probe)',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      for (const r of meshRoutesOf(hcm).routes) delete r['stat_prefix'];
    },
  },
  {
    key: 'routes-no-header-rewrite',
    label: 'mesh routes without their header rewrites (probe)',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      for (const r of meshRoutesOf(hcm).routes) {
        delete r['request_headers_to_add'];
        delete r['request_headers_to_remove'];
      }
    },
  },
  {
    key: 'no-dynamic-stats',
    label: 'full chain, router dynamic_stats off',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      routerConfig(hcm)['dynamic_stats'] = { value: false };
    },
  },
  {
    key: 'suppress-headers',
    label: 'full chain, suppress_envoy_headers',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      routerConfig(hcm)['suppress_envoy_headers'] = true;
    },
  },
  {
    key: 'no-request-id',
    label: 'full chain, generate_request_id off',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => {
      hcm['generate_request_id'] = { value: false };
    },
  },
  {
    key: 'mcp-keys',
    label: '+ the MCP filter instead of json_to_metadata',
    filters: [FILTER.keys, FILTER.router],
    meshRoutes: false,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => useMcpFilter(hcm),
  },
  {
    key: 'mcp',
    label: 'full chain, the MCP filter instead of json_to_metadata',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => useMcpFilter(hcm),
  },
  {
    key: 'mcp-early',
    label: 'full chain, the MCP filter, early_terminate_when_routable',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'adapter',
    tweak: (hcm) => useMcpFilter(hcm, { earlyTerminate: true }),
  },
  { key: 'echo-h1', label: 'full chain → echo, HTTP/1.1 TCP', filters: FULL, meshRoutes: true, concurrency: 2, upstream: 'echo-h1' },
  {
    key: 'echo-h1-c1',
    label: 'full chain → echo, HTTP/1.1 TCP, --concurrency 1',
    filters: FULL,
    meshRoutes: true,
    concurrency: 1,
    upstream: 'echo-h1',
  },
  {
    key: 'echo-router',
    label: 'router only, one route → echo, HTTP/1.1 TCP',
    filters: [FILTER.router],
    meshRoutes: false,
    concurrency: 2,
    upstream: 'echo-h1',
  },
  {
    key: 'echo-router-c1',
    label: 'router only, one route → echo, HTTP/1.1 TCP, --concurrency 1',
    filters: [FILTER.router],
    meshRoutes: false,
    concurrency: 1,
    upstream: 'echo-h1',
  },
  { key: 'echo-h2c', label: 'full chain → echo, h2c TCP', filters: FULL, meshRoutes: true, concurrency: 2, upstream: 'echo-h2c' },
  {
    key: 'echo-uds',
    label: 'full chain → echo, HTTP/1.1 Unix socket',
    filters: FULL,
    meshRoutes: true,
    concurrency: 2,
    upstream: 'echo-uds',
  },
];

function hcmOf(listener: Json): Json {
  const chains = listener['filter_chains'] as Array<{ filters: Array<{ typed_config: Json }> }>;
  return chains[0]!.filters[0]!.typed_config;
}

/** The listener as the control plane builds it, with its routes inline and only `filters` kept. */
function variantListener(port: number, v: EnvoyVariant, server: CatalogServer, routeConfig: Json): Json {
  const listener = buildListener({ address: '127.0.0.1', port }) as Json;
  const hcm = hcmOf(listener);
  const chain = hcm['http_filters'] as Array<{ name: string }>;
  const kept = v.filters.map((name) => {
    const f = chain.find((c) => c.name === name);
    if (!f) throw new Error(`the listener has no ${name}`);
    return f;
  });
  delete hcm['rds'];
  hcm['http_filters'] = structuredClone(kept);
  hcm['route_config'] = v.meshRoutes
    ? structuredClone(routeConfig)
    : {
        name: routeConfig['name'],
        virtual_hosts: [
          {
            ...VIRTUAL_HOST,
            routes: [
              {
                name: `${server.name}/all`,
                match: { path_separated_prefix: `/mcp/${server.name}` },
                route: { cluster: `mcp_${server.name}`, prefix_rewrite: server.path, timeout: duration(0) },
              },
            ],
          },
        ],
      };
  v.tweak?.(hcm);
  return listener;
}

/** The server's cluster as the control plane builds it, its endpoints inline (STATIC, or the pipe). */
function variantCluster(server: CatalogServer, upstream: Upstream): Json {
  const { eds_cluster_config: _eds, ...cluster } = buildCluster(server) as Json;
  const assignment = buildLoadAssignment(server) as { endpoints: Array<{ lb_endpoints: Array<{ endpoint: Json }> }> };
  if (upstream.kind === 'pipe') {
    for (const g of assignment.endpoints) for (const e of g.lb_endpoints) e.endpoint['address'] = { pipe: { path: upstream.path } };
  } else {
    for (const g of assignment.endpoints)
      for (const e of g.lb_endpoints) e.endpoint['address'] = { socket_address: { address: '127.0.0.1', port_value: upstream.port } };
  }
  const out: Json = { ...cluster, type: 'STATIC', load_assignment: assignment };
  if (upstream.kind === 'tcp' && upstream.h2c) {
    out['typed_extension_protocol_options'] = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: duration(60_000) },
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  return out;
}

const field = (n: number, bytes: Uint8Array) => Buffer.concat([lengthDelimitedHeader(n, bytes.length), bytes]);

/**
 * A binary Bootstrap (Envoy reads `.pb` files as such): static_resources (2)
 * with the listener (1) and cluster (2), admin (12) with its address (3).
 * Encoded with the same protos as the xDS resources, so every field is checked.
 */
function bootstrapBytes(listener: Json, cluster: Json, adminPort: number): Buffer {
  const l = packAny(TYPE.listener, listener).value;
  const c = packAny(TYPE.cluster, cluster).value;
  const address = encodePartial('envoy.config.core.v3.Address', { socket_address: { address: '127.0.0.1', port_value: adminPort } });
  return Buffer.concat([field(2, Buffer.concat([field(1, l), field(2, c)])), field(12, field(3, address))]);
}

interface RunningEnvoy {
  readonly variant: EnvoyVariant;
  readonly proc: Proc;
  readonly url: string;
  readonly adminPort: number;
  readonly nodePids: () => number[];
}

async function startVariantEnvoy(
  v: EnvoyVariant,
  server: CatalogServer,
  routeConfig: Json,
  upstream: Upstream,
  nodePids: () => number[],
  dir: string,
): Promise<RunningEnvoy> {
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, `${v.key}.pb`);
  writeFileSync(file, bootstrapBytes(variantListener(port, v, server, routeConfig), variantCluster(server, upstream), adminPort));
  const proc = new Proc(locateEnvoy(), [
    '-c',
    file,
    '--disable-hot-restart',
    '-l',
    'warning',
    '--concurrency',
    String(v.concurrency),
    '--base-id',
    String(port),
  ]);
  const url = `http://127.0.0.1:${port}/mcp/${server.name}`;
  try {
    await waitServing(url, 30_000);
  } catch (err) {
    await proc.stop();
    throw new Error(`Envoy ${v.key}: ${(err as Error).message}\n${proc.stderrTail()}`);
  }
  return { variant: v, proc, url, adminPort, nodePids };
}

// ---- measuring ----

interface Sample {
  readonly result: LoadResult;
  readonly envoyUs: number;
  readonly nodeUs: number;
}

function cpuDelta(b0: Map<string, number>, b1: Map<string, number>): number {
  let ms = 0;
  for (const [comm, v] of b1) ms += v - (b0.get(comm) ?? 0);
  return ms;
}

async function measure(url: string, load: (typeof loads)[number], envoyPid: number | undefined, nodePids: number[]): Promise<Sample> {
  let e0 = new Map<string, number>();
  let n0 = new Map<string, number>();
  let envoyMs = 0;
  let nodeMs = 0;
  const result = await runHttp(
    url,
    '2025',
    load.clients,
    {
      ...phase,
      onMeasureStart: () => {
        e0 = envoyPid === undefined ? new Map() : treeCpu([envoyPid]);
        n0 = treeCpu(nodePids);
      },
      onMeasureEnd: () => {
        envoyMs = envoyPid === undefined ? 0 : cpuDelta(e0, treeCpu([envoyPid]));
        nodeMs = cpuDelta(n0, treeCpu(nodePids));
      },
    },
    CALL,
    { sharedSession: load.sharedSession },
  );
  const n = Math.max(1, result.calls + result.errors);
  return { result, envoyUs: (envoyMs * 1000) / n, nodeUs: (nodeMs * 1000) / n };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const STAT_FILTER =
  '^(cluster\\.mcp_[^.]+\\.(upstream_cx_total|upstream_cx_destroy.*|upstream_rq_total|upstream_rq_retry.*|upstream_rq_pending_total|health_check\\.attempt|upstream_flow_control.*|upstream_cx_rx_bytes_buffered|upstream_cx_tx_bytes_buffered)|vhost\\.mcp\\.route\\.[^.]+\\.upstream_rq_(completed|200|2xx|time)|http\\.mcp_egress\\.(downstream_cx_total|downstream_rq_total|downstream_flow_control.*|downstream_rq_too_large)|.*json_to_metadata.*|.*\\.mcp\\..*|.*rate_limit.*)$';

async function envoyCounters(adminPort: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/stats?usedonly&filter=${encodeURIComponent(STAT_FILTER)}`);
  return (await r.text())
    .split('\n')
    .filter((l) => l.trim() !== '' && !/: 0$/.test(l) && !l.includes(' P0('))
    .join('; ');
}

// ---- run ----

const procs: Proc[] = [];
async function main(): Promise<void> {
  const startLoad = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-envoy-filters-'));
  const adapterPort = await freePort();
  const adapter = new Proc(process.execPath, [
    CLI,
    'adapter',
    '--name',
    'everything',
    '--port',
    String(adapterPort),
    '--host',
    '127.0.0.1',
    '--pool',
    '1',
    '--',
    process.execPath,
    SERVER,
    'stdio',
  ]);
  procs.push(adapter);
  const adapterUrl = `http://127.0.0.1:${adapterPort}/mcp`;
  await waitServing(adapterUrl, 60_000);
  // The catalog the control plane would build: the server's discovered tools give it its tool routes.
  const tools = await listToolsOverHttp(adapterUrl, 'auto', 10_000, undefined);
  const catalog = buildCatalog(
    { servers: new Map([['everything', serverSpec('everything', [adapterPort])]]) },
    new Map([['everything', tools]]),
  );
  const server = catalog.servers[0]!;
  const routeConfig = buildRouteConfiguration(catalog) as Json;

  const echoPort = await freePort();
  const echoH2cPort = await freePort();
  const echoPath = join(dir, 'echo.sock');
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const chosen = VARIANTS.filter((v) => only === undefined || only.has(v.key));
  const wants = (u: EnvoyVariant['upstream']) => chosen.some((v) => v.upstream === u);
  const echo: Partial<Record<'h1' | 'h2c' | 'uds', Proc>> = {};
  if (wants('echo-h1')) echo.h1 = new Proc(process.execPath, [ECHO, '--port', String(echoPort)]);
  if (wants('echo-h2c')) echo.h2c = new Proc(process.execPath, [ECHO, '--port', String(echoH2cPort), '--h2c']);
  if (wants('echo-uds')) echo.uds = new Proc(process.execPath, [ECHO, '--path', echoPath]);
  procs.push(...Object.values(echo));
  const echoUrl = `http://127.0.0.1:${echoPort}/mcp`;
  if (echo.h1) await waitServing(echoUrl, 10_000);

  const envoys: RunningEnvoy[] = [];
  for (const v of chosen) {
    const [upstream, pids]: [Upstream, () => number[]] =
      v.upstream === 'adapter'
        ? [{ kind: 'tcp', port: adapterPort }, () => [adapter.pid]]
        : v.upstream === 'echo-h1'
          ? [{ kind: 'tcp', port: echoPort }, () => [echo.h1!.pid]]
          : v.upstream === 'echo-h2c'
            ? [{ kind: 'tcp', port: echoH2cPort, h2c: true }, () => [echo.h2c!.pid]]
            : [{ kind: 'pipe', path: echoPath }, () => [echo.uds!.pid]];
    const e = await startVariantEnvoy(v, server, routeConfig, upstream, pids, dir);
    procs.push(e.proc);
    envoys.push(e);
  }

  type Row = { key: string; label: string; url: string; envoyPid?: number; nodePids: () => number[] };
  const rows: Row[] = [
    { key: 'adapter', label: 'adapter alone (no Envoy)', url: adapterUrl, nodePids: () => [adapter.pid] },
    ...envoys.map((e) => ({ key: e.variant.key, label: e.variant.label, url: e.url, envoyPid: e.proc.pid, nodePids: e.nodePids })),
  ];
  if (echo.h1) rows.push({ key: 'echo-direct', label: 'echo endpoint alone, HTTP/1.1 TCP', url: echoUrl, nodePids: () => [echo.h1!.pid] });
  // With --only, the rows without Envoy run only when named too ('adapter', 'echo-direct').
  const measured = only === undefined ? rows : rows.filter((r) => r.envoyPid !== undefined || only.has(r.key));
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const load of loads) {
      const order = round % 2 === 1 ? measured : [...measured].reverse();
      for (const row of order) {
        const s = await measure(row.url, load, row.envoyPid, row.nodePids());
        const k = `${row.key}|${load.label}`;
        samples.set(k, [...(samples.get(k) ?? []), s]);
        process.stderr.write(
          `[${round}/${rounds}] ${load.label.padStart(3)} client(s) ${row.label.padEnd(42)} ${(s.result.calls / s.result.seconds).toFixed(0).padStart(6)}/s p50 ${s.result.p50Ms.toFixed(3)} ms  Envoy ${s.envoyUs.toFixed(0)} µs/call  node ${s.nodeUs.toFixed(0)} µs/call  errors ${s.result.errors}${s.result.firstError ? ` (${s.result.firstError.slice(0, 120)})` : ''}\n`,
        );
      }
    }
  }
  const endLoad = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

  const cell = (key: string, load: string) => {
    const ss = samples.get(`${key}|${load}`) ?? [];
    return {
      rate: median(ss.map((s) => s.result.calls / s.result.seconds)),
      p50: median(ss.map((s) => s.result.p50Ms)),
      envoy: ss.map((s) => s.envoyUs),
      node: ss.map((s) => s.nodeUs),
      errors: ss.reduce((a, s) => a + s.result.errors, 0),
    };
  };
  const range = (xs: number[]) =>
    xs.length > 1 ? `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})` : xs[0]!.toFixed(0);
  const header = loads.flatMap(({ label: c }) => [
    `${c} cl: calls/s, p50 ms`,
    `${c} cl: added p50`,
    `${c} cl: Envoy µs/call`,
    `${c} cl: node µs/call`,
  ]);
  const lines = [`| variant | ${header.join(' | ')} |`, `| --- | ${header.map(() => '---').join(' | ')} |`];
  for (const row of measured) {
    const base = row.key.startsWith('echo') ? 'echo-direct' : 'adapter';
    const cols = loads.flatMap(({ label: c }) => {
      const x = cell(row.key, c);
      const b = cell(base, c);
      return [
        `${x.rate.toFixed(0)}, ${x.p50.toFixed(3)}${x.errors ? ` (${x.errors} errors)` : ''}`,
        row.envoyPid === undefined ? '' : `${(x.p50 - b.p50).toFixed(3)}`,
        row.envoyPid === undefined ? '' : range(x.envoy),
        range(x.node),
      ];
    });
    lines.push(`| ${row.label} | ${cols.join(' | ')} |`);
  }
  const counters: string[] = [];
  for (const e of envoys) counters.push(`- ${e.variant.key}: ${await envoyCounters(e.adminPort)}`);
  const argv = process.argv.slice(2).join(' ');
  process.stdout.write(
    [
      `Command: \`node dist/bench/gateway/envoy-filters.js${argv ? ` ${argv}` : ''}\`; ${rounds} round(s), warmup ${phase.warmupMs} ms, measured ${phase.measureMs} ms per cell, rows alternating (order reversed every other round); medians (range of CPU).`,
      `Load average at start ${startLoad}, at end ${endLoad}. Envoy: ${locateEnvoy()}. Route table: ${server.toolRoutes.length} tool routes (${tools.length} tools).`,
      '',
      ...lines,
      '',
      "Envoy's counters after the run (non-zero):",
      ...counters,
      '',
    ].join('\n'),
  );
  rmSync(dir, { recursive: true, force: true });
}

const stopAll = async () => {
  for (const p of procs.splice(0).reverse()) await p.stop();
};
// Ctrl-C or SIGTERM still stops the adapter, the echo endpoints and every Envoy (their process groups).
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stopAll().then(() => process.exit(130)));
try {
  await main();
} finally {
  await stopAll();
}
