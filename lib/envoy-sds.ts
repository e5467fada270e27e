// Envoy's TLS files through file-based SDS: instead of naming a certificate
// file in a cluster (read once, when the cluster is built), the cluster names
// a small SDS file, and the SDS file names the certificate files. Envoy reads
// files it got through SDS again whenever their directory sees a file moved
// into place, so certificates rotated by rename (write the new file, rename
// it over the old) are used for new connections without a restart or a
// cluster update.
//
// One SDS file per set of files, named by a hash of their paths, so the
// control plane (clusters) and the bootstrap (the xDS client certificate)
// name the same file for the same paths. Used by the control plane, the
// bootstrap and `mcpmesh up`.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SdsSecret =
  | { readonly kind: 'certificate'; readonly certFile: string; readonly keyFile: string }
  | { readonly kind: 'ca'; readonly caFile: string };

const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** The secret's name, the same for the same files wherever it is computed. */
export function sdsSecretName(secret: SdsSecret): string {
  const paths = secret.kind === 'certificate' ? [secret.certFile, secret.keyFile] : [secret.caFile];
  const hash = createHash('sha256').update(paths.join('\0')).digest('hex').slice(0, 16);
  return `mcpmesh-${secret.kind === 'certificate' ? 'cert' : 'ca'}-${hash}`;
}

export function sdsFilePath(dir: string, secret: SdsSecret): string {
  return join(dir, `${sdsSecretName(secret)}.json`);
}

/** The SDS file: a DiscoveryResponse holding the one secret, which names the files. */
export function sdsFileContents(secret: SdsSecret): string {
  const resource =
    secret.kind === 'certificate'
      ? {
          '@type': SECRET_TYPE,
          name: sdsSecretName(secret),
          tls_certificate: { certificate_chain: { filename: secret.certFile }, private_key: { filename: secret.keyFile } },
        }
      : { '@type': SECRET_TYPE, name: sdsSecretName(secret), validation_context: { trusted_ca: { filename: secret.caFile } } };
  return `${JSON.stringify({ resources: [resource] }, null, 2)}\n`;
}

/** An SdsSecretConfig that loads the secret from its file in `dir` (Envoy's proto field names). */
export function sdsSecretConfig(dir: string, secret: SdsSecret): { name: string; sds_config: object } {
  return {
    name: sdsSecretName(secret),
    sds_config: { path_config_source: { path: sdsFilePath(dir, secret) }, resource_api_version: 'V3' },
  };
}

/**
 * Writes the secret's SDS file into `dir` unless it is there already, by
 * rename (Envoy watches the file for moves). True when it wrote.
 */
export function writeSdsFile(dir: string, secret: SdsSecret): boolean {
  const file = sdsFilePath(dir, secret);
  const contents = sdsFileContents(secret);
  try {
    if (readFileSync(file, 'utf8') === contents) return false;
  } catch {
    // Not there yet.
  }
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents, { mode: 0o644 });
  renameSync(tmp, file);
  return true;
}
