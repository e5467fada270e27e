// Upstream TLS translation, the policy's tls block, the bootstrap's xDS TLS and
// the xDS node-id rule, without Envoy (test/integration/security runs them for real).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { Replica, ServerSpec } from '../../../control-plane/catalog/model.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildCluster } from '../../../control-plane/envoy/clusters.js';
import { buildLoadAssignment } from '../../../control-plane/envoy/endpoints.js';
import { certificateNamesNode } from '../../../control-plane/xds/ads-server.js';
import { bootstrapConfig } from '../../../envoy/bootstrap.js';
import { envoyNodeUri } from '../../../lib/mesh-contracts.js';

function server(policy: unknown, replicas: Replica[], tls = true) {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('; '));
  const spec: ServerSpec = { name: 's', path: '/mcp', protocol: 'auto', tls, replicas, policy: parsed.policy };
  return buildCatalog({ servers: new Map([['s', spec]]) }, new Map()).servers[0]!;
}
const replica = (id: string, host: string, tlsName?: string): Replica => ({
  id,
  host,
  port: 443,
  health: 'healthy',
  weight: 1,
  ...(tlsName ? { tlsName } : {}),
});
type Json = Record<string, any>;

describe('upstream TLS', () => {
  test('by default: the CA, SNI and DNS SAN per replica name, an IP SAN per IP replica; the client certificate', () => {
    const s = server({}, [replica('a', '10.0.0.1', 'a.internal'), replica('b', '10.0.0.2', '10.0.0.2')]);
    const c = buildCluster(s, { caFile: '/ca.crt', clientCertFile: '/c.crt', clientKeyFile: '/c.key' }) as Json;
    const ctx = c['transport_socket'].typed_config;
    assert.equal(ctx.auto_host_sni, true);
    assert.equal(ctx.auto_sni_san_validation, true);
    assert.equal(ctx.sni, undefined);
    assert.deepEqual(ctx.common_tls_context.validation_context, { trusted_ca: { filename: '/ca.crt' } });
    assert.deepEqual(ctx.common_tls_context.tls_certificates, [
      { certificate_chain: { filename: '/c.crt' }, private_key: { filename: '/c.key' } },
    ]);
    const matches = c['transport_socket_matches'] as Json[];
    assert.equal(matches.length, 1);
    assert.deepEqual(matches[0]!.transport_socket.typed_config.common_tls_context.validation_context.match_typed_subject_alt_names, [
      { san_type: 'IP_ADDRESS', matcher: { exact: '10.0.0.2' } },
    ]);
    const eds = buildLoadAssignment(s) as Json;
    const [a, b] = eds['endpoints'][0].lb_endpoints as Json[];
    assert.equal(a!.endpoint.hostname, 'a.internal');
    assert.equal(a!.metadata, undefined);
    assert.equal(b!.endpoint.hostname, '10.0.0.2');
    assert.ok(b!.metadata.filter_metadata['envoy.transport_socket_match']);
  });

  test('policy san and sni replace the per-replica names; policy files win over the defaults', () => {
    const s = server(
      {
        tls: {
          san: ['tools.internal', '10.1.1.1'],
          sni: 'tools.internal',
          caFile: '/p/ca.crt',
          clientCertFile: '/p/c.crt',
          clientKeyFile: '/p/c.key',
        },
      },
      [replica('a', '10.0.0.1', '10.0.0.1')],
    );
    const c = buildCluster(s, { caFile: '/ca.crt', clientCertFile: '/c.crt', clientKeyFile: '/c.key' }) as Json;
    const ctx = c['transport_socket'].typed_config;
    assert.equal(ctx.sni, 'tools.internal');
    assert.equal(ctx.auto_sni_san_validation, undefined);
    assert.equal(c['transport_socket_matches'], undefined);
    assert.deepEqual(ctx.common_tls_context.validation_context, {
      trusted_ca: { filename: '/p/ca.crt' },
      match_typed_subject_alt_names: [
        { san_type: 'DNS', matcher: { exact: 'tools.internal' } },
        { san_type: 'IP_ADDRESS', matcher: { exact: '10.1.1.1' } },
      ],
    });
    assert.equal(ctx.common_tls_context.tls_certificates[0].certificate_chain.filename, '/p/c.crt');
    assert.equal((buildLoadAssignment(s) as Json)['endpoints'][0].lb_endpoints[0].metadata, undefined);
  });

  test('no CA anywhere refuses every certificate; only insecureSkipVerify skips verification', () => {
    const none = buildCluster(server({}, [replica('a', '10.0.0.1', 'a.internal')]), {}) as Json;
    assert.deepEqual(none['transport_socket'].typed_config.common_tls_context.validation_context, {
      verify_certificate_hash: ['0'.repeat(64)],
    });
    const insecure = buildCluster(server({ tls: { insecureSkipVerify: true } }, [replica('a', '10.0.0.1', 'a.internal')]), {
      caFile: '/ca.crt',
    }) as Json;
    assert.equal(insecure['transport_socket'].typed_config.common_tls_context.validation_context, undefined);
    const plain = buildCluster(server({ tls: { caFile: '/ca.crt' } }, [replica('a', '10.0.0.1')], false), { caFile: '/ca.crt' }) as Json;
    assert.equal(plain['transport_socket'], undefined);
  });

  test('the policy schema names what is wrong', () => {
    const bad = (p: unknown) => {
      const r = parsePolicy(p);
      assert.ok(!r.ok);
      return r.errors.join('; ');
    };
    assert.match(bad({ tls: { clientCertFile: '/c.crt' } }), /clientCertFile and clientKeyFile go together/);
    assert.match(bad({ tls: { insecureSkipVerify: true, caFile: '/ca.crt' } }), /cannot be combined/);
    assert.match(bad({ tls: { caFile: 'relative.crt' } }), /policy\.tls\.caFile: an absolute file path/);
    assert.match(bad({ tls: { verify: false } }), /verify/);
  });
});

describe('xDS TLS', () => {
  test('the bootstrap verifies the control plane by name and presents the client certificate', () => {
    const b = bootstrapConfig({
      nodeId: 'n',
      xdsHost: 'cp.internal',
      xdsTls: { certFile: '/e.crt', keyFile: '/e.key', caFile: '/ca.crt' },
    }) as Json;
    const xds = (b['static_resources'].clusters as Json[]).find((c) => c['name'] === 'mcpmesh_xds')!;
    const ctx = xds['transport_socket'].typed_config;
    assert.equal(ctx.sni, 'cp.internal');
    assert.deepEqual(ctx.common_tls_context.alpn_protocols, ['h2']);
    assert.deepEqual(ctx.common_tls_context.validation_context.match_typed_subject_alt_names, [
      { san_type: 'DNS', matcher: { exact: 'cp.internal' } },
    ]);
    const plain = bootstrapConfig({ nodeId: 'n' }) as Json;
    assert.equal((plain['static_resources'].clusters as Json[]).find((c) => c['name'] === 'mcpmesh_xds')!['transport_socket'], undefined);
  });

  test('a certificate names a node by CN, URI SAN or DNS SAN, and no other node', () => {
    const cert = (cn: string, san?: string) =>
      ({ subject: { CN: cn }, ...(san ? { subjectaltname: san } : {}) }) as unknown as PeerCertificate;
    assert.ok(certificateNamesNode(cert('envoy-1'), 'envoy-1'));
    assert.ok(certificateNamesNode(cert('x', `URI:${envoyNodeUri('envoy/2')}`), 'envoy/2'));
    assert.ok(certificateNamesNode(cert('x', 'DNS:a, DNS:envoy-3'), 'envoy-3'));
    assert.ok(!certificateNamesNode(cert('envoy-1', `URI:${envoyNodeUri('envoy-1')}`), 'envoy-2'));
    assert.ok(!certificateNamesNode(cert('envoy-10'), 'envoy-1'));
    assert.ok(!certificateNamesNode(cert(''), ''));
  });
});
