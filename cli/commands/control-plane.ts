import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { AdminService } from '../../control-plane/admin/admin-service.js';
import type { ConsoleOptions } from '../../control-plane/admin/console-data.js';
import { LocalityNameSchema } from '../../control-plane/catalog/locality.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import type { UpstreamTlsDefaults } from '../../control-plane/envoy/clusters.js';
import type { ListenerOptions } from '../../control-plane/envoy/listener.js';
import { type ControlPlaneMetrics, createControlPlaneMetrics } from '../../control-plane/metrics.js';
import { ConsulDatacentersSource } from '../../control-plane/sources/consul-datacenters.js';
import { ConsulSource, type ConsulSourceOptions } from '../../control-plane/sources/consul-source.js';
import { parseConfigText } from '../../control-plane/sources/file-config.js';
import { CONFIG_DEFAULTS, type FileConfig } from '../../control-plane/sources/file-config-schema.js';
import { FileSource } from '../../control-plane/sources/file-source.js';
import type { CatalogSource } from '../../control-plane/sources/source.js';
import type { XdsTlsOptions } from '../../control-plane/xds/ads-server.js';
import { type FetchLike, httpsFetch } from '../../lib/https-fetch.js';
import { componentLogger, createLogger, type Logger } from '../../lib/log.js';
import { DEFAULT_PORTS } from '../../lib/mesh-contracts.js';
import { boolFlag, durationFlag, type FlagSpecs, intFlag, type Parsed, parseFlags, stringFlag, UsageError, usage } from '../flags.js';
import { type AdminApiHandle, startAdminApi } from './admin-api.js';
import { OBSERVABILITY_FLAGS, observabilityFlags } from './observability-flags.js';

/** Where distributions keep the system's CA bundle. */
const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];

export const CONTROL_PLANE_FLAGS: FlagSpecs = {
  config: { type: 'string', description: 'mcpmesh.yaml to serve (file source)' },
  consul: { type: 'string', description: 'Consul HTTP address, e.g. http://127.0.0.1:8500 (Consul source)' },
  'consul-consistent': { type: 'boolean', description: 'consistent instead of stale Consul reads' },
  'consul-datacenters': {
    type: 'string',
    description: "Consul datacenters to read, comma-separated, the local one first (e.g. dc1,dc2); default: the agent's own only",
  },
  'consul-token': { type: 'string', description: 'Consul ACL token (default: $CONSUL_HTTP_TOKEN)' },
  'xds-address': { type: 'string', description: 'xDS bind address', default: '127.0.0.1' },
  'xds-port': { type: 'string', description: 'xDS (ADS gRPC) port', default: String(DEFAULT_PORTS.xds) },
  'admin-address': { type: 'string', description: 'admin API bind address', default: '127.0.0.1' },
  'admin-port': { type: 'string', description: 'admin API port', default: String(DEFAULT_PORTS.adminApi) },
  'admin-token': { type: 'string', description: 'bearer token for admin API changes (without one the API is read-only)' },
  'admin-read-auth': { type: 'boolean', description: 'require the bearer token for admin API reads too' },
  'listen-address': { type: 'string', description: "address of Envoy's agent listener", default: CONFIG_DEFAULTS.listenAddress },
  'listen-port': { type: 'string', description: "port of Envoy's agent listener", default: String(DEFAULT_PORTS.envoyEgress) },
  'no-tool-discovery': { type: 'boolean', description: 'do not learn tools with tools/list' },
  'envoy-admin-url': {
    type: 'string',
    multiple: true,
    description:
      "Envoy admin URL(s) whose /clusters the console reads for Envoy's view of each replica (health checks, ejections); `mcpmesh up` passes its own",
  },
  'prometheus-url': {
    type: 'string',
    description: 'Prometheus base URL: the console takes traffic per tool from it instead of scraping the adapters',
  },
  'tool-refresh': {
    type: 'string',
    description: 'how often every server is asked tools/list again (also at once when its replicas change)',
    default: '30s',
  },
  ...OBSERVABILITY_FLAGS,
  // ---- TLS ----
  'xds-tls-cert': {
    type: 'string',
    description: "the xDS port's certificate (PEM): serve xDS over TLS, to Envoys whose client certificate names their node id",
  },
  'xds-tls-key': { type: 'string', description: 'the private key of --xds-tls-cert' },
  'xds-tls-client-ca': { type: 'string', description: "CA bundle Envoys' client certificates must chain to" },
  'upstream-ca': {
    type: 'string',
    description: `CA bundle TLS upstreams are verified with when their policy names none (default: the system bundle, ${SYSTEM_CA_BUNDLES[0]} or the like)`,
  },
  'upstream-client-cert': {
    type: 'string',
    description: 'client certificate Envoy presents to TLS upstreams (mTLS to adapters) when their policy names none',
  },
  'upstream-client-key': { type: 'string', description: 'the private key of --upstream-client-cert' },
  'envoy-sds-dir': {
    type: 'string',
    description:
      'directory shared with Envoy: the control plane writes SDS files there and clusters read their certificates through them, so Envoy uses rotated certificate files without a restart',
  },
};

/** The --xds-tls-* and --upstream-* flags. */
export function tlsSettings(p: Parsed): { xdsTls?: XdsTlsOptions; upstreamTls: UpstreamTlsDefaults } {
  const certFile = stringFlag(p, 'xds-tls-cert');
  const keyFile = stringFlag(p, 'xds-tls-key');
  const clientCaFile = stringFlag(p, 'xds-tls-client-ca');
  const any = certFile !== undefined || keyFile !== undefined || clientCaFile !== undefined;
  if (any && (certFile === undefined || keyFile === undefined || clientCaFile === undefined)) {
    throw new UsageError('--xds-tls-cert, --xds-tls-key and --xds-tls-client-ca go together');
  }
  const clientCertFile = stringFlag(p, 'upstream-client-cert');
  const clientKeyFile = stringFlag(p, 'upstream-client-key');
  if ((clientCertFile === undefined) !== (clientKeyFile === undefined))
    throw new UsageError('--upstream-client-cert and --upstream-client-key go together');
  const caFile = stringFlag(p, 'upstream-ca') ?? SYSTEM_CA_BUNDLES.find((f) => existsSync(f));
  const sdsDir = stringFlag(p, 'envoy-sds-dir');
  if (sdsDir !== undefined && !isAbsolute(sdsDir)) throw new UsageError('--envoy-sds-dir must be an absolute path (Envoy reads it)');
  return {
    ...(any ? { xdsTls: { certFile: certFile!, keyFile: keyFile!, clientCaFile: clientCaFile! } } : {}),
    upstreamTls: {
      ...(caFile !== undefined ? { caFile } : {}),
      ...(clientCertFile !== undefined ? { clientCertFile, clientKeyFile: clientKeyFile! } : {}),
      ...(sdsDir !== undefined ? { sdsDir } : {}),
    },
  };
}

export interface RunningControlPlane {
  readonly controlPlane: ControlPlane;
  readonly admin: AdminApiHandle;
  stop(): Promise<void>;
}

function datacentersFlag(p: Parsed): { datacenters?: string[] } {
  const text = stringFlag(p, 'consul-datacenters');
  if (text === undefined) return {};
  return {
    datacenters: text
      .split(',')
      .map((dc) => dc.trim())
      .filter((dc) => dc !== ''),
  };
}

export function makeSource(opts: {
  config?: string;
  consul?: string;
  consistent?: boolean;
  token?: string;
  /** Several Consul datacenters, the local one first. */
  datacenters?: readonly string[];
  logger: Logger;
  metrics: ControlPlaneMetrics;
}): CatalogSource {
  if (opts.config && opts.consul) throw new UsageError('give either --config or --consul, not both');
  const m = opts.metrics;
  if (opts.config) {
    return new FileSource({
      file: opts.config,
      logger: componentLogger(opts.logger, 'file-source'),
      onError: () => m.sourceErrors.inc({ source: 'file' }),
    });
  }
  if (opts.consul) {
    try {
      new URL(opts.consul);
    } catch {
      throw new UsageError(`--consul must be a URL such as http://127.0.0.1:8500, got "${opts.consul}"`);
    }
    const consulOptions = {
      consulUrl: opts.consul,
      consistent: opts.consistent ?? false,
      ...(opts.token ? { token: opts.token } : {}),
      logger: componentLogger(opts.logger, 'consul-source'),
      metrics: {
        request: (endpoint, outcome, seconds) => {
          m.consulRequests.inc({ endpoint, outcome });
          m.consulRequestSeconds.observe({ endpoint }, seconds);
          if (outcome === 'error') m.sourceErrors.inc({ source: 'consul' });
        },
        rejected: (kind, server) => m.sourceRejected.inc({ kind, server }),
        stale: (on: boolean) => m.sourceStale.set({ source: 'consul' }, on ? 1 : 0),
      },
    } satisfies ConsulSourceOptions;
    if (opts.datacenters !== undefined && opts.datacenters.length > 0) {
      const bad = opts.datacenters.find((dc) => !LocalityNameSchema.safeParse(dc).success);
      if (bad !== undefined) throw new UsageError(`--consul-datacenters: "${bad}" is not a datacenter name`);
      if (new Set(opts.datacenters).size !== opts.datacenters.length) throw new UsageError('--consul-datacenters names a datacenter twice');
      return new ConsulDatacentersSource({ ...consulOptions, datacenters: opts.datacenters });
    }
    return new ConsulSource(consulOptions);
  }
  throw new UsageError('one of --config FILE or --consul URL is required');
}

/**
 * The ports and the listener address, which the config file may set too: a
 * flag given explicitly (command line or environment) wins over the file, the
 * file over the flag's default.
 */
export function listenSettings(p: Parsed, file: FileConfig | undefined): { xdsPort: number; adminPort: number; listener: ListenerOptions } {
  const flagOrFile = <T>(flag: string, fromFile: T | undefined, fromFlag: () => T): T =>
    p.explicit.has(flag) || fromFile === undefined ? fromFlag() : fromFile;
  const port = (flag: string, fromFile: number | undefined) => flagOrFile(flag, fromFile, () => intFlag(p, flag, 0, 65535)!);
  return {
    xdsPort: port('xds-port', file?.controlPlane?.xdsPort),
    adminPort: port('admin-port', file?.controlPlane?.adminPort),
    listener: {
      address: flagOrFile('listen-address', file?.envoy?.listenAddress, () => stringFlag(p, 'listen-address')!),
      port: port('listen-port', file?.envoy?.listenPort),
    },
  };
}

export async function runControlPlane(argv: string[], logger = createLogger('control-plane')): Promise<RunningControlPlane | undefined> {
  const p = parseFlags(argv, CONTROL_PLANE_FLAGS);
  if (p.help) {
    process.stdout.write(
      usage(
        'control-plane',
        'Runs the xDS control plane: discovers MCP servers and drives Envoy over ADS.',
        CONTROL_PLANE_FLAGS,
        ' (--config FILE | --consul URL) [options]',
      ),
    );
    return undefined;
  }
  const consoleOpts = consoleOptions(p);
  const metrics = createControlPlaneMetrics();
  const config = stringFlag(p, 'config');
  const consul = stringFlag(p, 'consul');
  const source = makeSource({
    ...(config ? { config } : {}),
    ...(consul ? { consul } : {}),
    consistent: boolFlag(p, 'consul-consistent'),
    token: stringFlag(p, 'consul-token') ?? process.env['CONSUL_HTTP_TOKEN'],
    ...datacentersFlag(p),
    logger,
    metrics,
  });
  const listen = listenSettings(p, config ? parseConfigText(readFileSync(config, 'utf8'), config) : undefined);
  const tls = tlsSettings(p);
  const scrapeTls = adapterTlsFetch(tls.upstreamTls);
  const controlPlane = new ControlPlane({
    ...tls,
    source,
    logger,
    metrics,
    xdsHost: stringFlag(p, 'xds-address')!,
    xdsPort: listen.xdsPort,
    listener: listen.listener,
    observability: observabilityFlags(p),
    discoverTools: !boolFlag(p, 'no-tool-discovery'),
    toolRefreshMs: Math.max(1_000, durationFlag(p, 'tool-refresh')),
  });
  await controlPlane.start();
  const token = stringFlag(p, 'admin-token');
  const admin = await startAdminApi({
    backend: new AdminService(controlPlane),
    registry: metrics.registry,
    host: stringFlag(p, 'admin-address')!,
    port: listen.adminPort,
    ...(token ? { token } : {}),
    readAuth: boolFlag(p, 'admin-read-auth'),
    console: { ...consoleOpts, ...(scrapeTls ? { adapterTlsFetch: scrapeTls } : {}) },
    logger,
  });
  return {
    controlPlane,
    admin,
    stop: async () => {
      await admin.close();
      await controlPlane.stop();
    },
  };
}

/**
 * The console's scrape of mTLS adapters: with Envoy's CA and client
 * certificate, read at each scrape (they may be rotated). None without a
 * client certificate.
 */
function adapterTlsFetch(t: UpstreamTlsDefaults): FetchLike | undefined {
  const { caFile, clientCertFile, clientKeyFile } = t;
  if (clientCertFile === undefined || clientKeyFile === undefined) return undefined;
  return (url, init) =>
    httpsFetch({
      ...(caFile !== undefined ? { ca: readFileSync(caFile) } : {}),
      cert: readFileSync(clientCertFile),
      key: readFileSync(clientKeyFile),
    })(url, init);
}

function consoleOptions(p: Parsed): ConsoleOptions {
  const urls = p.values['envoy-admin-url'];
  const envoyAdminUrls = (Array.isArray(urls) ? urls : typeof urls === 'string' ? [urls] : []).map((u) => u.trim()).filter((u) => u !== '');
  const prometheusUrl = stringFlag(p, 'prometheus-url');
  for (const [flag, u] of [
    ...envoyAdminUrls.map((u) => ['envoy-admin-url', u] as const),
    ...(prometheusUrl ? [['prometheus-url', prometheusUrl] as const] : []),
  ]) {
    try {
      new URL(u);
    } catch {
      throw new UsageError(`--${flag} must be a URL such as http://127.0.0.1:9901, got "${u}"`);
    }
  }
  return { envoyAdminUrls, ...(prometheusUrl ? { prometheusUrl } : {}) };
}

export async function controlPlaneCommand(argv: string[]): Promise<number> {
  const logger = createLogger('control-plane');
  const running = await runControlPlane(argv, logger);
  if (!running) return 0;
  await waitForSignal();
  logger.info('stopping');
  await running.stop();
  return 0;
}

export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
