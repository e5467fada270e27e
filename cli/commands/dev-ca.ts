// mcpmesh dev-ca: a development CA and the certificates a mesh on one machine needs.
import { resolve } from 'node:path';
import { makeDevMesh } from '../../lib/dev-ca.js';
import { type FlagSpecs, parseFlags, stringFlag, UsageError, usage } from '../flags.js';

export const DEV_CA_FLAGS: FlagSpecs = {
  out: { type: 'string', description: 'directory to write ca.crt, ca.key, server.crt/key and envoy-ID.crt/key into (required)' },
  'node-id': {
    type: 'string',
    multiple: true,
    description: 'Envoy node id to issue a client certificate for; repeatable',
    default: 'envoy-1',
  },
  client: {
    type: 'string',
    multiple: true,
    description: 'name to issue a plain client certificate client-NAME.crt/key for (e.g. prometheus, to scrape mTLS adapters); repeatable',
  },
  host: {
    type: 'string',
    multiple: true,
    description: 'extra DNS name or IP for the server certificate (besides localhost, 127.0.0.1, ::1); repeatable',
  },
};

const SUMMARY =
  'Makes a development CA (openssl) and, signed by it: a server certificate for adapters and the control\n' +
  "plane's xDS port, and a client certificate per Envoy node id (CN and URI SAN spiffe://mcpmesh/envoy/ID).\n" +
  'Not for production: the CA key lies next to the certificates.';

function list(v: string | string[] | boolean | undefined): string[] {
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export async function devCaCommand(argv: string[]): Promise<number> {
  const p = parseFlags(argv, DEV_CA_FLAGS);
  if (p.help) {
    process.stdout.write(usage('dev-ca', SUMMARY, DEV_CA_FLAGS, ' --out DIR [--node-id ID]... [--client NAME]... [--host NAME]...'));
    return 0;
  }
  const out = stringFlag(p, 'out');
  if (out === undefined) throw new UsageError('--out is required');
  const nodeIds = list(p.values['node-id']);
  const certs = makeDevMesh(resolve(out), {
    nodeIds: nodeIds.length > 0 ? nodeIds : ['envoy-1'],
    hosts: list(p.values['host']),
    clients: list(p.values['client']),
  });
  const lines = [`CA:           ${certs.caCert}`, `server cert:  ${certs.serverCert} (key ${certs.serverKey})`];
  for (const [id, c] of certs.envoy) lines.push(`envoy ${id}: ${c.cert} (key ${c.key})`);
  for (const [name, c] of certs.clients) lines.push(`client ${name}: ${c.cert} (key ${c.key})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
