// TLS files through file-based SDS: the names both sides compute, the SDS
// files' contents, what the clusters and the bootstrap name, and the files
// the control plane writes (test/integration/security/cert-rotation.test.ts
// rotates them under a real Envoy).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec } from '../../../control-plane/catalog/model.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildCluster, upstreamSdsSecrets } from '../../../control-plane/envoy/clusters.js';
import { bootstrapConfig, xdsSdsSecrets } from '../../../envoy/bootstrap.js';
import { sdsFileContents, sdsFilePath, sdsSecretName, writeSdsFile } from '../../../lib/envoy-sds.js';

type Json = Record<string, any>;

function tlsServer(name: string, policy: unknown = {}) {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok);
  const spec: ServerSpec = {
    name,
    path: '/mcp',
    protocol: 'auto',
    tls: true,
    replicas: [{ id: 'a', host: 'tools.internal', port: 443, health: 'healthy', weight: 1 }],
    policy: parsed.policy,
  };
  return buildCatalog({ servers: new Map([[name, spec]]) }, new Map()).servers[0]!;
}

const defaults = {
  caFile: '/etc/mesh/ca.crt',
  clientCertFile: '/etc/mesh/envoy.crt',
  clientKeyFile: '/etc/mesh/envoy.key',
  sdsDir: '/var/lib/mesh/sds',
};

test('a secret is named by its files alone; the SDS file holds one Secret naming them', () => {
  const cert = { kind: 'certificate', certFile: '/a.crt', keyFile: '/a.key' } as const;
  assert.equal(sdsSecretName(cert), sdsSecretName({ ...cert }));
  assert.notEqual(sdsSecretName(cert), sdsSecretName({ ...cert, keyFile: '/b.key' }));
  assert.match(sdsSecretName(cert), /^mcpmesh-cert-[0-9a-f]{16}$/);
  assert.match(sdsSecretName({ kind: 'ca', caFile: '/ca.crt' }), /^mcpmesh-ca-[0-9a-f]{16}$/);
  assert.equal(sdsFilePath('/d', cert), `/d/${sdsSecretName(cert)}.json`);
  assert.deepEqual(JSON.parse(sdsFileContents(cert)), {
    resources: [
      {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
        name: sdsSecretName(cert),
        tls_certificate: { certificate_chain: { filename: '/a.crt' }, private_key: { filename: '/a.key' } },
      },
    ],
  });
  assert.deepEqual(JSON.parse(sdsFileContents({ kind: 'ca', caFile: '/ca.crt' })).resources[0].validation_context, {
    trusted_ca: { filename: '/ca.crt' },
  });
});

test('with an SDS directory a cluster names SDS files and keeps its SAN rules; without one it names the files inline', () => {
  const named = tlsServer('s', { tls: { san: ['tools.internal'] } });
  const common = (buildCluster(named, defaults) as Json)['transport_socket']['typed_config']['common_tls_context'] as Json;
  assert.deepEqual(common['tls_certificate_sds_secret_configs'], [
    {
      name: sdsSecretName({ kind: 'certificate', certFile: defaults.clientCertFile, keyFile: defaults.clientKeyFile }),
      sds_config: {
        path_config_source: {
          path: sdsFilePath(defaults.sdsDir, { kind: 'certificate', certFile: defaults.clientCertFile, keyFile: defaults.clientKeyFile }),
        },
        resource_api_version: 'V3',
      },
    },
  ]);
  const combined = common['combined_validation_context'] as Json;
  assert.deepEqual(combined['default_validation_context'], {
    match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'tools.internal' } }],
  });
  assert.equal(combined['validation_context_sds_secret_config']['name'], sdsSecretName({ kind: 'ca', caFile: defaults.caFile }));
  assert.equal(common['tls_certificates'], undefined);
  assert.equal(common['validation_context'], undefined);

  const { sdsDir: _, ...inline } = defaults;
  const plain = (buildCluster(named, inline) as Json)['transport_socket']['typed_config']['common_tls_context'] as Json;
  assert.deepEqual(plain['tls_certificates'], [
    { certificate_chain: { filename: defaults.clientCertFile }, private_key: { filename: defaults.clientKeyFile } },
  ]);
  assert.deepEqual(plain['validation_context']['trusted_ca'], { filename: defaults.caFile });
});

test("the SDS files of a catalog: each TLS server's files once, the policy's over the defaults; none without a directory", () => {
  const servers = [tlsServer('a'), tlsServer('b'), tlsServer('c', { tls: { caFile: '/other/ca.crt' } })];
  const names = upstreamSdsSecrets(servers, defaults).map(sdsSecretName).sort();
  assert.deepEqual(
    names,
    [
      sdsSecretName({ kind: 'certificate', certFile: defaults.clientCertFile, keyFile: defaults.clientKeyFile }),
      sdsSecretName({ kind: 'ca', caFile: defaults.caFile }),
      sdsSecretName({ kind: 'ca', caFile: '/other/ca.crt' }),
    ].sort(),
  );
  const { sdsDir: _, ...inline } = defaults;
  assert.deepEqual(upstreamSdsSecrets(servers, inline), []);
});

test("the bootstrap's xDS TLS through SDS files in its directory", () => {
  const xdsTls = { certFile: '/x/envoy.crt', keyFile: '/x/envoy.key', caFile: '/x/ca.crt', sdsDir: '/x/sds' };
  const boot = bootstrapConfig({ nodeId: 'n', xdsTls }) as Json;
  const cluster = (boot['static_resources']['clusters'] as Json[]).find((c) => c['transport_socket'] !== undefined)!;
  const common = cluster['transport_socket']['typed_config']['common_tls_context'] as Json;
  const [cert, ca] = xdsSdsSecrets(xdsTls);
  assert.equal(common['tls_certificate_sds_secret_configs'][0]['sds_config']['path_config_source']['path'], sdsFilePath('/x/sds', cert!));
  assert.equal(common['combined_validation_context']['validation_context_sds_secret_config']['name'], sdsSecretName(ca!));
  assert.deepEqual(xdsSdsSecrets({ ...xdsTls, sdsDir: undefined as never }), []);
});

test('writing an SDS file: by rename, only when its contents change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-sds-'));
  try {
    const ca = { kind: 'ca', caFile: '/ca.crt' } as const;
    assert.equal(writeSdsFile(join(dir, 'sds'), ca), true);
    const file = sdsFilePath(join(dir, 'sds'), ca);
    assert.equal(readFileSync(file, 'utf8'), sdsFileContents(ca));
    const inode = statSync(file).ino;
    assert.equal(writeSdsFile(join(dir, 'sds'), ca), false);
    assert.equal(statSync(file).ino, inode);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
