// A development certificate authority for the mesh, made with the openssl CLI
// (node:crypto makes keys but cannot issue X.509 certificates). For `mcpmesh
// dev-ca` and the tests; production meshes bring their own CA.
//
// Keys are EC P-256 (fast to make, accepted by Envoy, Node and grpc-js). Files:
//   ca.crt / ca.key          the mesh CA
//   NAME.crt / NAME.key      one leaf each, signed by the CA
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { envoyNodeUri } from './mesh-contracts.js';

export interface LeafSpec {
  /** File stem: NAME.crt, NAME.key. */
  readonly name: string;
  readonly commonName: string;
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly uris?: readonly string[];
  /** serverAuth, clientAuth or both (extended key usage). */
  readonly usage: 'server' | 'client' | 'both';
  readonly days?: number;
}

export interface CaFiles {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
}

function openssl(args: readonly string[], input?: string): void {
  execFileSync('openssl', args, {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    ...(input !== undefined ? { input } : {}),
  });
}

/** Makes a CA in `dir` (ca.crt, ca.key), replacing one that is there. */
export function makeCa(dir: string, commonName = 'mcpmesh development CA', days = 3650): CaFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', caKey]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-sha256',
    '-days',
    String(days),
    '-subj',
    `/CN=${commonName}`,
    '-out',
    caCert,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { dir, caCert, caKey };
}

/** Issues NAME.crt/NAME.key in `outDir` (default: the CA's dir), signed by the CA. */
export function issueLeaf(ca: CaFiles, spec: LeafSpec, outDir = ca.dir): { cert: string; key: string } {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const key = join(outDir, `${spec.name}.key`);
  const cert = join(outDir, `${spec.name}.crt`);
  const csr = join(outDir, `${spec.name}.csr`);
  const ext = join(outDir, `${spec.name}.ext`);
  const sans = [
    ...(spec.dns ?? []).map((d) => `DNS:${d}`),
    ...(spec.ips ?? []).map((ip) => {
      if (isIP(ip) === 0) throw new Error(`${ip} is not an IP address`);
      return `IP:${ip}`;
    }),
    ...(spec.uris ?? []).map((u) => `URI:${u}`),
  ];
  const eku = spec.usage === 'server' ? 'serverAuth' : spec.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  writeFileSync(ext, `${extensions.join('\n')}\n`);
  try {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    openssl(['req', '-new', '-key', key, '-subj', `/CN=${spec.commonName}`, '-out', csr]);
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.caCert,
      '-CAkey',
      ca.caKey,
      '-CAcreateserial',
      '-sha256',
      '-days',
      String(spec.days ?? 825),
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
    rmSync(join(ca.dir, 'ca.srl'), { force: true });
  }
  return { cert, key };
}

export interface DevMeshCerts {
  readonly caCert: string;
  /** The server certificate of adapters and the control plane's xDS port. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Per Envoy node id: its client certificate (xDS and upstream mTLS). */
  readonly envoy: ReadonlyMap<string, { cert: string; key: string }>;
  /** Other clients of the adapters (a Prometheus scraping them): a client certificate naming no Envoy node. */
  readonly clients: ReadonlyMap<string, { cert: string; key: string }>;
}

/**
 * A whole development mesh: the CA, one server certificate (SANs localhost,
 * 127.0.0.1, ::1 and `hosts`) and one client certificate per Envoy node id
 * (CN and URI SAN spiffe://mcpmesh/envoy/ID, DNS SAN ID when it is a DNS name).
 */
export function makeDevMesh(
  dir: string,
  opts: { nodeIds: readonly string[]; hosts?: readonly string[]; clients?: readonly string[] },
): DevMeshCerts {
  const ca = makeCa(dir);
  const hosts = opts.hosts ?? [];
  const server = issueLeaf(ca, {
    name: 'server',
    commonName: 'mcpmesh server',
    dns: ['localhost', ...hosts.filter((h) => isIP(h) === 0)],
    ips: ['127.0.0.1', '::1', ...hosts.filter((h) => isIP(h) !== 0)],
    usage: 'server',
  });
  const envoy = new Map<string, { cert: string; key: string }>();
  for (const id of opts.nodeIds) {
    envoy.set(id, issueLeaf(ca, { name: `envoy-${id}`, commonName: id, uris: [envoyNodeUri(id)], usage: 'client' }));
  }
  const clients = new Map<string, { cert: string; key: string }>();
  for (const name of opts.clients ?? []) {
    clients.set(name, issueLeaf(ca, { name: `client-${name}`, commonName: name, usage: 'client' }));
  }
  return { caCert: ca.caCert, serverCert: server.cert, serverKey: server.key, envoy, clients };
}
