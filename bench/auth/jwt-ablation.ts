// Where JWT's Envoy CPU per call goes, by ablation of the configuration the
// control plane really sends: a mesh (real control plane, real Envoy) with a
// server without auth (`none`), one with JWT (`jwt`) and one with JWT and
// per-tool rules (`rules`), all in front of one minimal echo endpoint
// (bench/gateway/echo-upstream.ts, so the upstream adds little noise); its
// Envoy's listener, routes and clusters are read from the admin's config
// dump, and each variant below is that configuration with one piece changed,
// served by an Envoy of its own from a static bootstrap. Rows (a variant and
// a server) alternate in a new shuffled order every round, each round giving
// every row a burst of N concurrent clients (kept-alive connections) × B calls;
// Envoy's CPU per call is read per burst from /proc (schedstat, to the ns).
// Variants marked "probe" remove something the mesh needs: they locate a
// cost and are not candidates.
//   node dist/bench/auth/jwt-ablation.js [--clients 16] [--rounds 40] [--burst 50] [--only KEY,...] [--max-seconds 300]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type EnvoyProcess, startEnvoy } from '../../envoy/envoy-process.js';
import { startJwtIssuer } from '../../test/support/jwt-issuer.js';
import { configDump, routeList, startMesh } from '../../test/support/mesh.js';
import { freePort } from '../../test/support/ports.js';
import { until } from '../../test/support/wait.js';
import { treeCpuPreciseMs } from '../process-cpu.js';
import { percentile, seededShuffle } from '../sampling.js';
import { echoCall, RULES, timedPost } from './bench-fixtures.js';

const { body: BODY, headers: HEADERS } = echoCall('jwt-ablation-bench');
const ECHO = join(dirname(fileURLToPath(import.meta.url)), '../gateway/echo-upstream.js');

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '40' },
    burst: { type: 'string', default: '50' },
    only: { type: 'string' },
    'max-seconds': { type: 'string', default: '300' },
  },
});
const clients = Number(values.clients);
const burst = Number(values.burst);

type Json = Record<string, unknown>;
type Filter = { name: string; typed_config: Json };

interface Variant {
  readonly key: string;
  readonly label: string;
  /** The servers measured on it (a variant that breaks the rules does not measure `rules`). */
  readonly servers: readonly Server[];
  /** Edits the connection manager's config (its routes inline) in place. */
  readonly tweak?: (hcm: Json) => void;
}
type Server = 'none' | 'none+token' | 'jwt' | 'rules';

const filters = (hcm: Json) => hcm['http_filters'] as Filter[];
const drop = (name: string) => (hcm: Json) => {
  hcm['http_filters'] = filters(hcm).filter((f) => f.name !== name);
};
const jwtProvider = (hcm: Json): Json => {
  const jwt = filters(hcm).find((f) => f.name === 'envoy.filters.http.jwt_authn')!;
  return (jwt.typed_config['providers'] as Record<string, Json>)['corp']!;
};
const onFilter = (name: string, edit: (config: Json) => void) => (hcm: Json) =>
  edit(filters(hcm).find((f) => f.name === name)!.typed_config);
const onProvider = (edit: (p: Json) => void) => (hcm: Json) => edit(jwtProvider(hcm));

const ALL: readonly Server[] = ['none', 'jwt', 'rules'];
const VARIANTS: Variant[] = [
  { key: 'as-built', label: 'as the control plane builds it', servers: ['none', 'none+token', 'jwt', 'rules'] },
  {
    key: 'no-payload',
    label: 'jwt_authn without payload_in_metadata (probe: the rules read it)',
    servers: ['jwt'],
    tweak: onProvider((p) => {
      delete p['payload_in_metadata'];
      delete p['normalize_payload_in_metadata'];
    }),
  },
  {
    key: 'no-normalize',
    label: 'payload_in_metadata without normalize_payload_in_metadata (probe: scope rules need it)',
    servers: ['jwt'],
    tweak: onProvider((p) => delete p['normalize_payload_in_metadata']),
  },
  {
    key: 'no-claim-headers',
    label: 'jwt_authn without claim_to_headers (probe)',
    servers: ['jwt', 'rules'],
    tweak: onProvider((p) => delete p['claim_to_headers']),
  },
  {
    key: 'header-only',
    label: 'token from the Authorization header only (no access_token query parameter)',
    servers: ['jwt', 'rules'],
    tweak: onProvider((p) => {
      p['from_headers'] = [{ name: 'Authorization', value_prefix: 'Bearer ' }];
    }),
  },
  {
    key: 'forward',
    label: 'jwt_authn forward: true (probe: the token would reach upstreams)',
    servers: ['jwt'],
    tweak: onProvider((p) => {
      p['forward'] = true;
    }),
  },
  {
    key: 'no-failed-status',
    label: 'jwt_authn without failed_status_in_metadata (probe)',
    servers: ['jwt'],
    tweak: onProvider((p) => delete p['failed_status_in_metadata']),
  },
  {
    key: 'jwt-bare',
    label: 'jwt_authn verifying only: no payload, no claim headers, header only, forward (probe)',
    servers: ['jwt'],
    tweak: onProvider((p) => {
      delete p['payload_in_metadata'];
      delete p['normalize_payload_in_metadata'];
      delete p['claim_to_headers'];
      delete p['failed_status_in_metadata'];
      p['from_headers'] = [{ name: 'Authorization', value_prefix: 'Bearer ' }];
      p['forward'] = true;
    }),
  },
  {
    key: 'no-jwt-filter',
    label: 'no jwt_authn filter (probe: tokens unchecked)',
    servers: ['none', 'jwt'],
    tweak: drop('envoy.filters.http.jwt_authn'),
  },
  {
    key: 'no-server-name',
    label: 'no header_to_metadata (server name) filter (probe: the list filter reads it)',
    servers: ALL,
    tweak: drop('envoy.filters.http.header_to_metadata'),
  },
  { key: 'no-ext-proc', label: 'no ext_proc (list filter) (probe)', servers: ALL, tweak: drop('envoy.filters.http.ext_proc') },
  {
    key: 'ext-proc-no-metadata',
    label: 'ext_proc without metadata_options (probe: the list filter reads the claims)',
    servers: ['rules'],
    tweak: onFilter('envoy.filters.http.ext_proc', (c) => delete c['metadata_options']),
  },
  {
    key: 'ext-proc-no-forward-rules',
    label: 'ext_proc without forward_rules (probe: the token would reach the control plane)',
    servers: ['rules'],
    tweak: onFilter('envoy.filters.http.ext_proc', (c) => delete c['forward_rules']),
  },
  {
    key: 'ext-proc-bare',
    label: 'ext_proc with its service and processing mode only (probe)',
    servers: ['rules'],
    tweak: onFilter('envoy.filters.http.ext_proc', (c) => {
      for (const k of Object.keys(c)) if (!['@type', 'grpc_service', 'processing_mode', 'failure_mode_allow'].includes(k)) delete c[k];
    }),
  },
  { key: 'no-rbac', label: 'no RBAC filter (probe)', servers: ALL, tweak: drop('envoy.filters.http.rbac') },
  { key: 'no-strip', label: 'no identity-header strip (probe)', servers: ALL, tweak: drop('envoy.filters.http.header_mutation') },
];

function call(url: string, agent: http.Agent, headers: Record<string, string>): Promise<number> {
  return timedPost(url, agent, headers, BODY);
}

/** A dumped resource as a bootstrap field: without the Any's type. */
function bare(resource: unknown): Json {
  const { '@type': _type, ...rest } = resource as Json;
  return rest;
}

/** The mesh Envoy's listener, route configuration and clusters (endpoints inline), from its config dump. */
async function meshConfig(adminUrl: string): Promise<{ listener: Json; routeConfig: Json; clusters: Json[]; staticClusters: Json[] }> {
  const dump = await configDump(adminUrl);
  const of = (t: string) => dump.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${t}`)!;
  const listener = bare(((of('ListenersConfigDump')['dynamic_listeners'] as Json[])[0]!['active_state'] as Json)['listener']);
  const routeConfig = bare((of('RoutesConfigDump')['dynamic_route_configs'] as Json[])[0]!['route_config']);
  const endpoints = new Map(
    ((of('EndpointsConfigDump')['dynamic_endpoint_configs'] as Json[] | undefined) ?? []).map((e) => {
      const la = bare(e['endpoint_config']);
      // The dump shows an unset locality weight as 0, which a bootstrap refuses.
      for (const g of (la['endpoints'] as Json[] | undefined) ?? [])
        if (Number((g['load_balancing_weight'] as Json | undefined)?.['value'] ?? 0) < 1) delete g['load_balancing_weight'];
      return [String(la['cluster_name']), la];
    }),
  );
  const clusters = (of('ClustersConfigDump')['dynamic_active_clusters'] as Json[]).map((c) => {
    const { eds_cluster_config: _eds, ...cluster } = bare(c['cluster']);
    const name = String(cluster['name']);
    return _eds === undefined ? cluster : { ...cluster, type: 'STATIC', load_assignment: endpoints.get(name) };
  });
  const staticClusters = (of('ClustersConfigDump')['static_clusters'] as Json[]).map((c) => bare(c['cluster']));
  return { listener, routeConfig, clusters, staticClusters };
}

function hcmOf(listener: Json): Json {
  const chains = listener['filter_chains'] as Array<{ filters: Array<{ typed_config: Json }> }>;
  return chains[0]!.filters[0]!.typed_config;
}

async function startVariant(v: Variant, base: Awaited<ReturnType<typeof meshConfig>>): Promise<{ envoy: EnvoyProcess; port: number }> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const listener = structuredClone(base.listener);
  listener['address'] = { socket_address: { address: '127.0.0.1', port_value: port } };
  const hcm = hcmOf(listener);
  delete hcm['rds'];
  hcm['route_config'] = structuredClone(base.routeConfig);
  v.tweak?.(hcm);
  const bootstrap = {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: { listeners: [listener], clusters: [...base.staticClusters, ...base.clusters] },
  };
  const envoy = await startEnvoy({ configYaml: JSON.stringify(bootstrap), adminPort, id: `ablation-${v.key}` });
  await envoy.waitLive(30_000);
  return { envoy, port };
}

const shuffle = seededShuffle(5);

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-jwt-ablation-'));
  const echoPort = await freePort();
  const echo: ChildProcess = spawn(process.execPath, [ECHO, '--port', String(echoPort)], { stdio: 'ignore' });
  process.once('exit', () => echo.kill('SIGKILL'));
  const echoUrl = `http://127.0.0.1:${echoPort}/mcp`;
  const issuer = await startJwtIssuer(dir);
  const token = await issuer.sign({ sub: 'bench-agent', scope: 'tools.read' }, { expiresIn: '2h' });
  const tool = { tools: { echo: { timeout: '5s' } } };
  const mesh = await startMesh({
    discoverTools: false,
    config: {
      auth: { providers: { corp: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile } } } },
      servers: [
        { name: 'none', replicas: [echoUrl], policy: tool },
        { name: 'jwt', replicas: [echoUrl], policy: { auth: { provider: 'corp' }, ...tool } },
        { name: 'rules', replicas: [echoUrl], policy: { auth: RULES, ...tool } },
      ],
    },
  });
  await until(async () => (await routeList(mesh.adminUrl)).some((r) => String(r['name']) === 'rules/tool/echo'), 'routes', 20_000);
  const base = await meshConfig(mesh.adminUrl);
  await mesh.stop();

  const only = values.only === undefined ? undefined : new Set(values.only.split(','));
  const chosen = VARIANTS.filter((v) => v.key === 'as-built' || only === undefined || only.has(v.key));
  const envoys = new Map<string, { envoy: EnvoyProcess; port: number }>();
  const withToken = { ...HEADERS, authorization: `Bearer ${token}` };
  try {
    for (const v of chosen) envoys.set(v.key, await startVariant(v, base));
    const rows = chosen.flatMap((v) =>
      v.servers.map((s) => {
        const { envoy, port } = envoys.get(v.key)!;
        const server = s === 'none+token' ? 'none' : s;
        return {
          variant: v,
          server: s,
          url: `http://127.0.0.1:${port}/mcp/${server}`,
          headers: s === 'none' ? HEADERS : withToken,
          pid: envoy.pid,
        };
      }),
    );
    const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const stats = rows.map(() => ({ lat: [] as number[], envoyMs: 0 }));
    for (const r of rows) for (let i = 0; i < 50; i++) await Promise.all(agents.map((a) => call(r.url, a, r.headers)));
    const order = rows.map((_, i) => i);
    const deadline = performance.now() + Number(values['max-seconds']) * 1000;
    let done = 0;
    for (let round = 0; round < Number(values.rounds) && performance.now() < deadline; round++, done++) {
      for (const i of shuffle(order)) {
        const r = rows[i]!;
        const e0 = treeCpuPreciseMs([r.pid]);
        const lat = await Promise.all(
          agents.map(async (a) => {
            const got: number[] = [];
            for (let k = 0; k < burst; k++) got.push(await call(r.url, a, r.headers));
            return got;
          }),
        );
        stats[i]!.envoyMs += treeCpuPreciseMs([r.pid]) - e0;
        stats[i]!.lat.push(...lat.flat());
      }
    }
    for (const a of agents) a.destroy();
    const asBuiltNone = rows.findIndex((r) => r.variant.key === 'as-built' && r.server === 'none');
    const baseP50 = percentile(
      [...stats[asBuiltNone]!.lat].sort((a, b) => a - b),
      50,
    );
    const lines = [
      '| variant | server | calls | p50 ms | p50 vs as-built none ms | Envoy CPU µs/call |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
    ];
    rows.forEach((r, i) => {
      const s = [...stats[i]!.lat].sort((a, b) => a - b);
      const p50 = percentile(s, 50);
      lines.push(
        `| ${r.variant.label} | ${r.server} | ${s.length} | ${p50.toFixed(3)} | ${(p50 - baseP50).toFixed(3)} | ${((stats[i]!.envoyMs * 1000) / s.length).toFixed(1)} |`,
      );
    });
    const load = loadavg().map((l) => l.toFixed(2));
    process.stdout.write(
      `${clients} clients × ${burst} calls per burst, ${done} rounds; load average ${loadAtStart.join(' ')} at the start, ${load.join(' ')} at the end\n\n${lines.join('\n')}\n`,
    );
  } finally {
    for (const { envoy } of envoys.values()) await envoy.stop();
    echo.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
