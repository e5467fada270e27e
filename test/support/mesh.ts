// A real mesh for integration tests: the control plane on a temp config file,
// a real Envoy bootstrapped against it, on loopback ports of their own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { makeSource } from '../../cli/commands/control-plane.js';
import { AdminService } from '../../control-plane/admin/admin-service.js';
import type { MeshSettings } from '../../control-plane/catalog/mesh-schema.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import type { UpstreamTlsDefaults } from '../../control-plane/envoy/clusters.js';
import { type ControlPlaneMetrics, createControlPlaneMetrics } from '../../control-plane/metrics.js';
import type { XdsTlsOptions } from '../../control-plane/xds/ads-server.js';
import { type BootstrapXdsTls, renderBootstrap, xdsSdsSecrets } from '../../envoy/bootstrap.js';
import type { EnvoyLocality } from '../../envoy/bootstrap-locality.js';
import { type EnvoyProcess, startEnvoy } from '../../envoy/envoy-process.js';
import { writeSdsFile } from '../../lib/envoy-sds.js';
import type { Logger } from '../../lib/log.js';
import { freePort } from './ports.js';

export interface MeshOptions {
  /** mcpmesh.yaml contents (file source); ignored with `consulUrl`. */
  readonly config?: object;
  /** Use the Consul source instead of the file. */
  readonly consulUrl?: string;
  readonly delta?: boolean;
  readonly discoverTools?: boolean;
  readonly toolRefreshMs?: number;
  /** Tracing and access-log settings, as the control plane's flags give them. */
  readonly observability?: MeshSettings;
  // ---- TLS ----
  readonly upstreamTls?: UpstreamTlsDefaults;
  readonly xdsTls?: XdsTlsOptions;
  /** Envoy's side of xDS over TLS. */
  readonly bootstrapXdsTls?: BootstrapXdsTls;
  readonly nodeId?: string;
  readonly logger?: Logger;
  /** Consul ACL token of the control plane. */
  readonly consulToken?: string;
  /** Several Consul datacenters, the local one first. */
  readonly consulDatacenters?: readonly string[];
  /** Envoy's node locality (its bootstrap's --datacenter and --zone). */
  readonly envoyLocality?: EnvoyLocality;
}

export interface Mesh {
  readonly cp: ControlPlane;
  /** The admin API's backend over the control plane running now. */
  readonly admin: AdminService;
  readonly metrics: ControlPlaneMetrics;
  readonly envoy: EnvoyProcess;
  readonly adminUrl: string;
  readonly listenPort: number;
  readonly xdsPort: number;
  readonly configFile: string;
  agentUrl(server: string): string;
  writeConfig(config: object | string): void;
  /** Restarts the control plane on the same ports and file, after `downMs` without one. */
  restartControlPlane(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-it-'));
  const configFile = join(dir, 'mcpmesh.yaml');
  const write = (c: object | string) => writeFileSync(configFile, typeof c === 'string' ? c : stringify(c));
  write(opts.config ?? { servers: [] });
  const listenPort = await freePort();
  const xdsPort = await freePort();
  const adminPort = await freePort();
  const logger = opts.logger ?? pino({ level: process.env['MCPMESH_TEST_LOG'] ?? 'silent' });
  let metrics = createControlPlaneMetrics();
  const makeCp = () =>
    new ControlPlane({
      source: makeSource({
        ...(opts.consulUrl ? { consul: opts.consulUrl } : { config: configFile }),
        ...(opts.consulToken ? { token: opts.consulToken } : {}),
        ...(opts.consulDatacenters ? { datacenters: opts.consulDatacenters } : {}),
        logger,
        metrics,
      }),
      logger,
      metrics,
      xdsHost: '127.0.0.1',
      xdsPort,
      listener: { address: '127.0.0.1', port: listenPort },
      ...(opts.observability ? { observability: opts.observability } : {}),
      discoverTools: opts.discoverTools ?? true,
      toolRefreshMs: opts.toolRefreshMs ?? 1_000,
      ...(opts.upstreamTls ? { upstreamTls: opts.upstreamTls } : {}),
      ...(opts.xdsTls ? { xdsTls: opts.xdsTls } : {}),
    });
  let cp = makeCp();
  let admin = new AdminService(cp);
  await cp.start();
  // As `mcpmesh envoy-bootstrap --sds-dir` does on Envoy's host.
  for (const secret of xdsSdsSecrets(opts.bootstrapXdsTls)) writeSdsFile(opts.bootstrapXdsTls!.sdsDir!, secret);
  const envoy = await startEnvoy({
    configYaml: renderBootstrap({
      nodeId: opts.nodeId ?? `it-${process.pid}-${xdsPort}`,
      xdsPort,
      adminPort,
      delta: opts.delta ?? false,
      ...(opts.bootstrapXdsTls ? { xdsTls: opts.bootstrapXdsTls } : {}),
      ...(opts.envoyLocality ? { locality: opts.envoyLocality } : {}),
    }),
    adminPort,
  });
  const mesh: Mesh = {
    get cp() {
      return cp;
    },
    get admin() {
      return admin;
    },
    get metrics() {
      return metrics;
    },
    envoy,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    listenPort,
    xdsPort,
    configFile,
    agentUrl: (server) => `http://127.0.0.1:${listenPort}/mcp/${server}`,
    writeConfig: write,
    async restartControlPlane(downMs = 0) {
      await cp.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      metrics = createControlPlaneMetrics();
      cp = makeCp();
      admin = new AdminService(cp);
      await cp.start();
    },
    async stop() {
      await envoy.stop();
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return mesh;
}

// ---- Envoy admin views used by the tests ----

type Json = Record<string, unknown>;

export async function configDump(adminUrl: string): Promise<Json[]> {
  const res = await fetch(`${adminUrl}/config_dump?include_eds`);
  const body = (await res.json()) as { configs: Json[] };
  return body.configs;
}

export async function dynamicClusters(adminUrl: string): Promise<Json[]> {
  const dump = await configDump(adminUrl);
  const c = dump.find((x) => x['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
  return ((c?.['dynamic_active_clusters'] as Json[] | undefined) ?? []).map((x) => x['cluster'] as Json);
}

export async function routeList(adminUrl: string): Promise<Json[]> {
  const dump = await configDump(adminUrl);
  const r = dump.find((x) => x['@type'] === 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump');
  const rc = ((r?.['dynamic_route_configs'] as Json[] | undefined) ?? [])[0]?.['route_config'] as Json | undefined;
  const vh = ((rc?.['virtual_hosts'] as Json[] | undefined) ?? [])[0];
  return (vh?.['routes'] as Json[] | undefined) ?? [];
}

export interface HostStatus {
  readonly address: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly edsHealth: string;
  readonly rqTotal: number;
}

export async function clusterHostStatus(adminUrl: string, cluster: string): Promise<HostStatus[]> {
  const res = await fetch(`${adminUrl}/clusters?format=json`);
  const body = (await res.json()) as { cluster_statuses?: Json[] };
  const c = body.cluster_statuses?.find((x) => x['name'] === cluster);
  return ((c?.['host_statuses'] as Json[] | undefined) ?? []).map((h) => {
    const sa = (h['address'] as Json)['socket_address'] as Json;
    const hs = (h['health_status'] as Json | undefined) ?? {};
    const stats = (h['stats'] as Json[] | undefined) ?? [];
    const rq = stats.find((s) => s['name'] === 'rq_total');
    const ejected = hs['failed_outlier_check'] === true;
    const edsHealth = String(hs['eds_health_status'] ?? 'HEALTHY');
    return {
      address: `${String(sa['address'])}:${String(sa['port_value'])}`,
      ejected,
      edsHealth,
      healthy: !ejected && hs['failed_active_health_check'] !== true && (edsHealth === 'HEALTHY' || edsHealth === 'DEGRADED'),
      rqTotal: Number(rq?.['value'] ?? 0),
    };
  });
}

export async function statValue(adminUrl: string, name: string): Promise<number> {
  const res = await fetch(`${adminUrl}/stats?format=json&filter=${encodeURIComponent(`^${name.replace(/\./g, '\\.')}$`)}`);
  const body = (await res.json()) as { stats: { name: string; value?: number }[] };
  return body.stats.find((s) => s.name === name)?.value ?? 0;
}
