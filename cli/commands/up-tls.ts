// `mcpmesh up` with the file's `tls: { adapters: true }`: a development CA
// (made once in up's state directory, or the file's `tls.caDir` from
// `mcpmesh dev-ca`), adapters that serve mTLS with its server certificate,
// Envoy presenting its client certificate to them, and xDS over TLS. Envoy
// reads every certificate through file-based SDS, so the files can be rotated
// under a running `up`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileConfig } from '../../control-plane/sources/file-config-schema.js';
import { type BootstrapXdsTls, xdsSdsSecrets } from '../../envoy/bootstrap.js';
import { makeDevMesh } from '../../lib/dev-ca.js';
import { writeSdsFile } from '../../lib/envoy-sds.js';
import { type FetchLike, httpsFetch } from '../../lib/https-fetch.js';
import type { Logger } from '../../lib/log.js';
import { ENVOY_NODE_URI_PREFIX } from '../../lib/mesh-contracts.js';

/** The node id `up` gives its Envoy (its client certificate names it). */
export const UP_NODE_ID = 'mcpmesh-up';

export interface UpTls {
  readonly caCert: string;
  /** Adapters' and the xDS port's certificate (SANs localhost, 127.0.0.1, ::1). */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Envoy's client certificate: to adapters and to the control plane. */
  readonly envoyCert: string;
  readonly envoyKey: string;
  /** Where the control plane and the bootstrap write Envoy's SDS files. */
  readonly sdsDir: string;
}

/** The CA and certificates, made on first use in the default directory; undefined when the file does not ask for TLS. */
export function prepareUpTls(config: FileConfig, stateDir: string, logger: Logger): UpTls | undefined {
  if (config.tls?.adapters !== true) return undefined;
  const dir = config.tls.caDir ?? join(stateDir, 'dev-ca');
  const files = {
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    envoyCert: join(dir, `envoy-${UP_NODE_ID}.crt`),
    envoyKey: join(dir, `envoy-${UP_NODE_ID}.key`),
  };
  const missing = Object.values(files).filter((f) => !existsSync(f));
  if (missing.length > 0) {
    if (config.tls.caDir !== undefined)
      throw new Error(`tls.caDir ${dir} lacks ${missing.join(', ')}; make it with \`mcpmesh dev-ca --out ${dir} --node-id ${UP_NODE_ID}\``);
    makeDevMesh(dir, { nodeIds: [UP_NODE_ID] });
    logger.info({ dir }, 'made a development CA for mTLS inside the mesh');
  }
  return { ...files, sdsDir: join(stateDir, 'sds') };
}

export function adapterTlsArgs(t: UpTls): string[] {
  // MCP from Envoy's certificate alone: a scraper's certificate of the same CA reads /metrics only.
  return ['--tls-cert', t.serverCert, '--tls-key', t.serverKey, '--tls-client-ca', t.caCert, '--tls-mcp-client-uri', ENVOY_NODE_URI_PREFIX];
}

export function controlPlaneTlsArgs(t: UpTls): string[] {
  return [
    '--upstream-ca',
    t.caCert,
    '--upstream-client-cert',
    t.envoyCert,
    '--upstream-client-key',
    t.envoyKey,
    '--envoy-sds-dir',
    t.sdsDir,
    '--xds-tls-cert',
    t.serverCert,
    '--xds-tls-key',
    t.serverKey,
    '--xds-tls-client-ca',
    t.caCert,
  ];
}

/** Envoy's side of xDS over TLS; its SDS files are written here, as `envoy-bootstrap --sds-dir` does. */
export function bootstrapXdsTls(t: UpTls): BootstrapXdsTls {
  const tls = { certFile: t.envoyCert, keyFile: t.envoyKey, caFile: t.caCert, sdsDir: t.sdsDir };
  for (const secret of xdsSdsSecrets(tls)) writeSdsFile(t.sdsDir, secret);
  return tls;
}

/** How `up` asks its mTLS adapters whether they are ready: with the mesh client certificate. */
export function readinessFetch(t: UpTls): FetchLike {
  return httpsFetch({ ca: readFileSync(t.caCert), cert: readFileSync(t.envoyCert), key: readFileSync(t.envoyKey) });
}
