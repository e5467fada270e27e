import { isAbsolute } from 'node:path';
import { type BootstrapXdsTls, renderBootstrap, xdsSdsSecrets } from '../../envoy/bootstrap.js';
import { writeSdsFile } from '../../lib/envoy-sds.js';
import { DEFAULT_PORTS } from '../../lib/mesh-contracts.js';
import { boolFlag, type FlagSpecs, intFlag, type Parsed, parseFlags, stringFlag, UsageError, usage } from '../flags.js';

export const ENVOY_BOOTSTRAP_FLAGS: FlagSpecs = {
  'node-id': { type: 'string', description: 'Envoy node id (required)' },
  cluster: { type: 'string', description: 'Envoy node cluster', default: 'mcpmesh' },
  xds: { type: 'string', description: 'control plane address HOST:PORT', default: `127.0.0.1:${DEFAULT_PORTS.xds}` },
  'admin-port': { type: 'string', description: 'Envoy admin port', default: String(DEFAULT_PORTS.envoyAdmin) },
  'admin-address': { type: 'string', description: 'Envoy admin bind address', default: '127.0.0.1' },
  'stats-port': {
    type: 'string',
    description: `serve only /stats/prometheus on this port (e.g. ${DEFAULT_PORTS.envoyStats}), for scrapers; the admin endpoint stays on loopback`,
  },
  'stats-address': { type: 'string', description: 'bind address of the stats port', default: '127.0.0.1' },
  datacenter: { type: 'string', description: "this Envoy's datacenter (its node locality's region)" },
  zone: { type: 'string', description: "this Envoy's zone: it keeps calls on replicas of this zone while one is healthy" },
  delta: { type: 'boolean', description: 'use incremental (delta) xDS instead of state-of-the-world' },
  // ---- xDS over TLS ----
  'xds-tls-cert': {
    type: 'string',
    description: "Envoy's client certificate (PEM) for xDS over TLS; it must name the node id (CN, or URI SAN spiffe://mcpmesh/envoy/ID)",
  },
  'xds-tls-key': { type: 'string', description: 'the private key of --xds-tls-cert' },
  'xds-tls-ca': { type: 'string', description: "CA bundle the control plane's certificate must chain to" },
  'xds-tls-server-name': { type: 'string', description: "name the control plane's certificate must carry (default: the --xds host)" },
  'sds-dir': {
    type: 'string',
    description:
      'write SDS files naming the --xds-tls-* files into this directory and have Envoy read them through it: rotated certificates are used without a restart',
  },
};

/** The --xds-tls-* flags: all of cert, key and CA, or none. */
function xdsTlsFlags(p: Parsed): BootstrapXdsTls | undefined {
  const certFile = stringFlag(p, 'xds-tls-cert');
  const keyFile = stringFlag(p, 'xds-tls-key');
  const caFile = stringFlag(p, 'xds-tls-ca');
  const serverName = stringFlag(p, 'xds-tls-server-name');
  if (certFile === undefined && keyFile === undefined && caFile === undefined) {
    if (serverName !== undefined) throw new UsageError('--xds-tls-server-name needs --xds-tls-cert, --xds-tls-key and --xds-tls-ca');
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined || caFile === undefined)
    throw new UsageError('--xds-tls-cert, --xds-tls-key and --xds-tls-ca go together');
  const sdsDir = stringFlag(p, 'sds-dir');
  if (sdsDir !== undefined && !isAbsolute(sdsDir)) throw new UsageError('--sds-dir must be an absolute path (Envoy reads it)');
  return { certFile, keyFile, caFile, ...(serverName !== undefined ? { serverName } : {}), ...(sdsDir !== undefined ? { sdsDir } : {}) };
}

export function splitHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--${flag} must be HOST:PORT, got "${text}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export async function envoyBootstrapCommand(argv: string[]): Promise<number> {
  const p = parseFlags(argv, ENVOY_BOOTSTRAP_FLAGS);
  if (p.help) {
    process.stdout.write(
      usage(
        'envoy-bootstrap',
        "Prints Envoy's bootstrap YAML for an mcpmesh control plane.",
        ENVOY_BOOTSTRAP_FLAGS,
        ' --node-id ID [options]',
      ),
    );
    return 0;
  }
  const nodeId = stringFlag(p, 'node-id');
  if (!nodeId) throw new UsageError('--node-id is required');
  const xds = splitHostPort(stringFlag(p, 'xds')!, 'xds');
  const xdsTls = xdsTlsFlags(p);
  const datacenter = stringFlag(p, 'datacenter');
  const zone = stringFlag(p, 'zone');
  const locality = { ...(datacenter !== undefined ? { datacenter } : {}), ...(zone !== undefined ? { zone } : {}) };
  for (const secret of xdsSdsSecrets(xdsTls)) writeSdsFile(xdsTls!.sdsDir!, secret);
  let yaml: string;
  try {
    yaml = renderBootstrap({
      nodeId,
      cluster: stringFlag(p, 'cluster')!,
      xdsHost: xds.host,
      xdsPort: xds.port,
      adminAddress: stringFlag(p, 'admin-address')!,
      adminPort: intFlag(p, 'admin-port', 1, 65535)!,
      delta: boolFlag(p, 'delta'),
      ...(xdsTls ? { xdsTls } : {}),
      ...(stringFlag(p, 'stats-port') !== undefined
        ? { statsPort: intFlag(p, 'stats-port', 1, 65535)!, statsAddress: stringFlag(p, 'stats-address')! }
        : {}),
      ...(datacenter !== undefined || zone !== undefined ? { locality } : {}),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  process.stdout.write(yaml);
  return 0;
}
