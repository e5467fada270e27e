// Agent identity and per-tool rules, without Envoy (test/integration/security
// runs them for real): the schemas, a server's auth resolved against the mesh,
// the DENY policies the rules become, the listener's filters and the routes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import type { AdminBackend, ServerView } from '../../../control-plane/admin/admin-backend.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { type ResolvedMeshAuth, resolveMeshAuth, resolveServerAuth } from '../../../control-plane/catalog/auth-resolution.js';
import { MeshAuthSchema } from '../../../control-plane/catalog/auth-schema.js';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { MeshSettingsSchema } from '../../../control-plane/catalog/mesh-schema.js';
import type { ServerSpec } from '../../../control-plane/catalog/model.js';
import { resolvePolicy } from '../../../control-plane/catalog/policy-resolution.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildListener } from '../../../control-plane/envoy/listener.js';
import { serverRoutes } from '../../../control-plane/envoy/routes.js';
import { denyPolicies, rulePrincipal } from '../../../control-plane/envoy/tool-authorization.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { parseConfigText } from '../../../control-plane/sources/file-config.js';
import { agentClaimHeader } from '../../../lib/mesh-contracts.js';

type Json = Record<string, any>;

const MESH = MeshAuthSchema.parse({
  providers: {
    corp: { issuer: 'https://idp.example', audiences: ['mesh'], jwks: { file: '/etc/jwks.json' }, forwardClaims: ['email'] },
    partner: { issuer: 'https://partner.example', audiences: ['mesh'], jwks: { uri: 'https://partner.example/jwks' } },
  },
  default: 'corp',
});
const meshAuth = (extra: object = {}): ResolvedMeshAuth =>
  resolveMeshAuth({ ...MESH, ...extra }, { address: '127.0.0.1', port: 10000 }) as ResolvedMeshAuth;

function catalogServer(policy: unknown, auth: ResolvedMeshAuth | null = meshAuth()) {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.errors.join('; '));
  const spec: ServerSpec = {
    name: 'search',
    path: '/mcp',
    protocol: 'auto',
    tls: false,
    replicas: [{ id: 'a', host: '127.0.0.1', port: 1, health: 'healthy', weight: 1 }],
    policy: parsed.policy,
  };
  return buildCatalog({ servers: new Map([['search', spec]]) }, new Map(), undefined, auth ?? undefined).servers[0]!;
}

describe('schemas', () => {
  test('policy errors name the field', () => {
    const bad = parsePolicy({ auth: { required: false, rules: [{ name: 'r', tools: ['x'] }] } });
    assert.ok(!bad.ok);
    assert.deepEqual(bad.errors, ['policy.auth.rules: rules need verified claims: they cannot go with required: false']);
    const dup = parsePolicy({ auth: { rules: [{ name: 'r' }, { name: 'r' }] } });
    assert.ok(!dup.ok);
    assert.deepEqual(dup.errors, ['policy.auth.rules.1.name: duplicate rule name "r"']);
    const unknown = parsePolicy({ auth: { rules: [{ name: 'r', tool: ['x'] }] } });
    assert.ok(!unknown.ok);
    assert.match(unknown.errors[0]!, /^policy\.auth\.rules\.0: Unrecognized key/);
  });

  test('mesh auth: the default must be a provider; JWKS URLs are https; sub is not a forwarded claim', () => {
    const r = MeshSettingsSchema.safeParse({
      auth: {
        providers: { a: { issuer: 'i', audiences: ['x'], jwks: { uri: 'http://idp/jwks' }, forwardClaims: ['sub'] } },
        default: 'b',
      },
    });
    assert.ok(!r.success);
    const paths = r.error.issues.map((i) => i.path.join('.')).sort();
    assert.deepEqual(paths, ['auth.default', 'auth.providers.a.forwardClaims.0', 'auth.providers.a.jwks.uri']);
  });

  test('a provider: no zero clock skew (Envoy reads 0 as its default of 60s); a token cache of 0 or more', () => {
    const provider = (extra: object) =>
      MeshSettingsSchema.safeParse({ auth: { providers: { a: { issuer: 'i', audiences: ['x'], jwks: { file: '/j.json' }, ...extra } } } });
    const zero = provider({ clockSkew: '0s' });
    assert.ok(!zero.success);
    assert.deepEqual(
      zero.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      ['auth.providers.a.clockSkew: 0s is outside 1000ms..600000ms'],
    );
    const negative = provider({ tokenCache: -1 });
    assert.ok(!negative.success);
    assert.deepEqual(
      negative.error.issues.map((i) => i.path.join('.')),
      ['auth.providers.a.tokenCache'],
    );
    assert.ok(provider({ clockSkew: '1s', tokenCache: 0 }).success);
  });

  test('the file takes a top-level auth section', () => {
    const cfg = parseConfigText(
      'auth:\n  providers:\n    corp: { issuer: i, audiences: [m], jwks: { file: /j.json } }\n  default: corp\nservers: []\n',
      'mcpmesh.yaml',
    );
    assert.equal(cfg.auth?.default, 'corp');
  });

  test('the admin API validates auth policies with the same schema, and its document shows the fields', async () => {
    const view: ServerView = {
      name: 'search',
      path: '/mcp',
      agentUrlPath: '/mcp/search',
      protocol: 'auto',
      replicas: [],
      explicitPolicy: null,
      effectivePolicy: { policy: resolvePolicy({}), toolRoutes: [] },
    };
    const stored: unknown[] = [];
    const backend = {
      servers: () => [view],
      server: (n: string) => (n === 'search' ? view : undefined),
      setPolicy: async (_n: string, p: unknown) => void stored.push(p),
    } as unknown as AdminBackend;
    const app = buildAdminServer({ backend, registry: new Registry(), token: 't' });
    const headers = { authorization: 'Bearer t' };
    const url = '/api/v1/servers/search/policy';
    const bad = await app.inject({ method: 'PUT', url, headers, payload: { auth: { rules: [{ name: 'x y' }] } } });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json().error.details, ['policy.auth.rules.0.name: names are 1-63 of A-Z a-z 0-9 _ -']);
    const good = { auth: { provider: 'corp', rules: [{ name: 'readers', when: { scopes: ['read'] }, tools: ['echo'] }] } };
    assert.equal((await app.inject({ method: 'PUT', url, headers, payload: good })).statusCode, 202);
    assert.deepEqual(stored, [good]);
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const body = JSON.stringify(doc.paths['/api/v1/servers/{name}/policy'].put.requestBody);
    for (const field of ['"auth"', '"rules"', '"when"', '"scopes"', '"prompts"', '"resources"', '"required"'])
      assert.ok(body.includes(field), field);
    await app.close();
  });
});

describe('resolution against the mesh', () => {
  test('the default provider, and the RFC 9728 document', () => {
    const a = resolveServerAuth('search', { rules: [{ name: 'r', when: { scopes: ['b', 'a'] }, tools: ['echo'] }] }, meshAuth());
    assert.equal(a.mode, 'jwt');
    assert.ok(a.mode === 'jwt');
    assert.equal(a.provider, 'corp');
    assert.equal(a.metadataUrl, 'http://127.0.0.1:10000/.well-known/oauth-protected-resource/mcp/search');
    assert.deepEqual(a.metadata, {
      resource: 'http://127.0.0.1:10000/mcp/search',
      authorization_servers: ['https://idp.example'],
      scopes_supported: ['a', 'b'],
      bearer_methods_supported: ['header'],
    });
    const b = resolveServerAuth('search', { provider: 'partner' }, meshAuth({ resourceBaseUrl: 'https://mcp.example/' }));
    assert.ok(b.mode === 'jwt');
    assert.equal(b.metadata.resource, 'https://mcp.example/mcp/search');
  });

  test('opting out only where the mesh allows it; an unknown provider refuses the server', () => {
    const held = resolveServerAuth('search', { required: false }, meshAuth());
    assert.ok(held.mode === 'jwt');
    assert.match(held.warning ?? '', /allowOptOut/);
    assert.equal(resolveServerAuth('search', { required: false }, meshAuth({ allowOptOut: true })).mode, 'open');
    assert.deepEqual(resolveServerAuth('search', { provider: 'nope' }, meshAuth()), {
      mode: 'refused',
      reason: `the policy names provider "nope", which the mesh's auth.providers lacks`,
    });
    assert.equal(resolveServerAuth('search', undefined, undefined).mode, 'open');
    assert.equal(resolveServerAuth('search', { required: true }, undefined).mode, 'refused');
  });
});

describe('rules → DENY policies', () => {
  test('one policy per named item and one for the rest, named by server, kind, item and rules', () => {
    const p = denyPolicies('search', [
      { name: 'readers', when: { scopes: ['read'] }, tools: ['echo', 'list'], prompts: ['greet'] },
      { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'] },
    ]);
    assert.deepEqual(Object.keys(p).sort(), [
      'search:prompt:*:unlisted',
      'search:prompt:greet:readers',
      'search:resource:*:unlisted',
      'search:tool:*:ops',
      'search:tool:echo:readers,ops',
      'search:tool:list:readers,ops',
    ]);
    // echo is denied to every caller neither rule applies to.
    assert.deepEqual((p['search:tool:echo:readers,ops'] as Json)['principals'], [
      {
        not_id: {
          or_ids: {
            ids: [
              rulePrincipal({ name: 'readers', when: { scopes: ['read'] } }),
              rulePrincipal({ name: 'ops', when: { claims: { groups: ['ops'] } } }),
            ],
          },
        },
      },
    ]);
    // resources/read and resources/subscribe are gated by the body's params.uri.
    assert.equal(JSON.stringify(p['search:resource:*:unlisted']).includes('resources/subscribe'), true);
  });

  test('a rule needs a verified token and every condition of its `when`', () => {
    const principal = rulePrincipal({ name: 'r', when: { sub: ['alice'], scopes: ['read'], claims: { groups: ['ops'] } } }) as Json;
    const ids = principal['and_ids'].ids as Json[];
    assert.equal(ids.length, 4);
    assert.deepEqual(ids[0], {
      metadata: { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'jwt_payload' }], value: { present_match: true } },
    });
    assert.deepEqual(ids[2], {
      metadata: {
        filter: 'envoy.filters.http.jwt_authn',
        path: [{ key: 'jwt_payload' }, { key: 'scope' }],
        value: { list_match: { one_of: { string_match: { exact: 'read' } } } },
      },
    });
  });
});

describe('Envoy resources', () => {
  test('the listener strips identity headers first, verifies tokens, then rules; answers are JSON-RPC', () => {
    const l = buildListener({ address: '127.0.0.1', port: 10000, auth: meshAuth() }) as Json;
    const hcm = l['filter_chains'][0].filters[0].typed_config;
    const names = (hcm.http_filters as Json[]).map((f) => f['name']);
    assert.deepEqual(names, [
      'envoy.filters.http.header_mutation',
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.json_to_metadata',
      'envoy.filters.http.rbac',
      'envoy.filters.http.header_to_metadata',
      'envoy.filters.http.ext_proc',
      'envoy.filters.http.local_ratelimit',
      'envoy.filters.http.stateful_session',
      'envoy.filters.http.router',
    ]);
    const jwt = hcm.http_filters[1].typed_config;
    assert.deepEqual(jwt.providers.corp.claim_to_headers, [
      { header_name: 'x-mcpmesh-agent', claim_name: 'sub' },
      { header_name: agentClaimHeader('email'), claim_name: 'email' },
    ]);
    assert.equal(jwt.providers.corp.forward, false);
    // The verified payload as metadata only where rules read it: servers with rules require corp.claims.
    assert.equal(jwt.providers.corp.payload_in_metadata, undefined);
    assert.equal(jwt.providers['corp.claims'].payload_in_metadata, 'jwt_payload');
    assert.deepEqual(jwt.providers['corp.claims'].normalize_payload_in_metadata, { space_delimited_claims: ['scope'] });
    const { payload_in_metadata: _p, normalize_payload_in_metadata: _n, ...claimsRest } = jwt.providers['corp.claims'];
    assert.deepEqual(claimsRest, jwt.providers.corp, 'the claims provider checks tokens the same way');
    assert.deepEqual(Object.keys(jwt.requirement_map).sort(), ['corp', 'corp.claims', 'partner', 'partner.claims']);
    // A repeated token is verified once per worker (exp is still checked on every hit); 0 turns the cache off.
    assert.deepEqual(jwt.providers.corp.jwt_cache_config, { jwt_cache_size: 1000 });
    const sized = (tokenCache: number) =>
      (
        buildListener({
          address: '127.0.0.1',
          port: 10000,
          auth: meshAuth({ providers: { corp: { ...MESH.providers['corp']!, tokenCache } } }),
        }) as Json
      )['filter_chains'][0].filters[0].typed_config.http_filters[1].typed_config.providers.corp;
    assert.deepEqual(sized(50).jwt_cache_config, { jwt_cache_size: 50 });
    assert.equal(sized(0).jwt_cache_config, undefined);
    assert.equal(jwt.providers.partner.remote_jwks.http_uri.cluster, 'jwks_partner');
    // The 401 and 403 mappers go before the listener's own (the 413), the rate limit's 429 after.
    assert.equal(hcm.local_reply_config.mappers.length, 4);
    assert.equal(hcm.local_reply_config.mappers[0].status_code.value, 401);
    // The list filter gets the path and content type only: tokens never leave Envoy.
    const extProc = (hcm.http_filters as Json[]).find((f) => f['name'] === 'envoy.filters.http.ext_proc')!.typed_config;
    assert.deepEqual(extProc.forward_rules.allowed_headers.patterns, [{ exact: ':path' }, { exact: 'content-type' }]);
    assert.equal(extProc.failure_mode_allow, false);
    // Off unless a route turns it on (the routes of servers with rules).
    assert.equal((hcm.http_filters as Json[]).find((f) => f['name'] === 'envoy.filters.http.ext_proc')!['disabled'], true);
    assert.equal((hcm.http_filters as Json[]).find((f) => f['name'] === 'envoy.filters.http.rbac')!['disabled'], true);
    // Without auth: only the header strip is added (and the rate limit filter, off unless a route switches it on).
    const plain = buildListener({ address: '127.0.0.1', port: 10000 }) as Json;
    assert.deepEqual(
      (plain['filter_chains'][0].filters[0].typed_config.http_filters as Json[]).map((f) => f['name']),
      [
        'envoy.filters.http.header_mutation',
        'envoy.filters.http.json_to_metadata',
        'envoy.filters.http.local_ratelimit',
        'envoy.filters.http.stateful_session',
        'envoy.filters.http.router',
      ],
    );
  });

  test('every route of a server carries its provider and rules; the metadata route needs no token', () => {
    const routes = serverRoutes(
      catalogServer({
        auth: { rules: [{ name: 'r', tools: ['echo'] }] },
        tools: { echo: { idempotent: true }, other: { idempotent: true } },
      }),
    ) as Json[];
    const [meta, ...traffic] = routes;
    assert.equal(meta!['match'].path, '/.well-known/oauth-protected-resource/mcp/search');
    assert.equal(meta!['typed_per_filter_config'], undefined);
    assert.equal(JSON.parse(meta!['direct_response'].body.inline_string).resource, 'http://127.0.0.1:10000/mcp/search');
    const rbacPolicies = (name: string) => {
      const r = traffic.find((x) => x['name'] === name);
      assert.ok(r, name);
      // The listener has RBAC off: every route of a server with rules turns it on, also with nothing to check.
      const rbac = r['typed_per_filter_config']['envoy.filters.http.rbac'];
      assert.equal(rbac['@type'], 'type.googleapis.com/envoy.config.route.v3.FilterConfig', name);
      return Object.keys(rbac.config.rbac?.rules.policies ?? {}).sort();
    };
    for (const r of traffic) {
      assert.equal(r['typed_per_filter_config']['envoy.filters.http.jwt_authn'].requirement_name, 'corp.claims', r['name']);
      rbacPolicies(r['name']);
      // Envoy picks a request's filters by the route its headers match, before the body is read: every route
      // a request can match on headers alone turns the list filter on, and so do the routes with their own mode.
      const bodyKeysOnly = ((r['match'].dynamic_metadata ?? []) as Json[]).some((m) => m['invert'] !== true);
      const extProc = r['typed_per_filter_config']['envoy.filters.http.ext_proc'];
      if (r['name'] === 'search/header-mismatch/tools-call-without-method') assert.equal(extProc, undefined);
      else if (!bodyKeysOnly) assert.equal(extProc['@type'], 'type.googleapis.com/envoy.config.route.v3.FilterConfig', r['name']);
      else if (!/\/(lists|listen)/.test(r['name'])) assert.equal(extProc, undefined, r['name']);
    }
    // A 2026-07-28 POST whose Mcp-Method says tools/call: its headers pick a route without the list filter, before every
    // route of the server but the header checks; once the body is read, only a body without a method stays there (400).
    const names = traffic.map((r) => String(r['name']));
    const headerRoute = names.indexOf('search/header-mismatch/tools-call-without-method');
    assert.ok(headerRoute > names.lastIndexOf('search/header-mismatch/method-claim'));
    assert.ok(names.slice(headerRoute + 1).every((n) => !n.includes('/header-mismatch/')));
    const call = traffic[headerRoute]!;
    assert.equal(call['direct_response'].status, 400);
    assert.deepEqual(call['match'].dynamic_metadata, [
      { filter: 'mcpmesh', path: [{ key: 'method' }], value: { present_match: true }, invert: true },
    ]);
    assert.deepEqual(
      (call['match'].headers as Json[]).map((h) => [h['name'], h['string_match']?.exact ?? h['string_match']?.prefix]),
      [
        [':path', '/mcp/search'],
        ['mcp-protocol-version', '2026-07-28'],
        [':method', 'POST'],
        ['mcp-method', 'tools/call'],
      ],
    );
    assert.ok(JSON.parse(call['direct_response'].body.inline_string).error.code === -32020);
    for (const name of ['search/lists', 'search/lists/2026', 'search/listen/2026', 'search/default'])
      assert.equal(
        traffic.find((x) => x['name'] === name)!['typed_per_filter_config']['envoy.filters.http.ext_proc']['@type'],
        'type.googleapis.com/envoy.config.route.v3.FilterConfig',
        name,
      );
    assert.deepEqual(
      traffic.find((x) => x['name'] === 'search/get-delete')!['typed_per_filter_config']['envoy.filters.http.ext_proc'].config.overrides
        .processing_mode,
      {
        request_header_mode: 'SKIP',
        response_header_mode: 'SKIP',
        request_body_mode: 'NONE',
        response_body_mode: 'NONE',
        request_trailer_mode: 'SKIP',
        response_trailer_mode: 'SKIP',
      },
    );
    // Routes any gated method can take carry every policy; a tool's route only its own.
    assert.deepEqual(rbacPolicies('search/rpc'), [
      'search:prompt:*:unlisted',
      'search:resource:*:unlisted',
      'search:tool:*:unlisted',
      'search:tool:echo:r',
    ]);
    assert.deepEqual(rbacPolicies('search/tool/echo'), ['search:tool:echo:r']);
    assert.deepEqual(rbacPolicies('search/tool/other'), ['search:tool:*:unlisted']);
    assert.deepEqual(rbacPolicies('search/default'), ['search:body:no-method:unreadable']);
    assert.deepEqual(rbacPolicies('search/get-delete'), []);
    assert.deepEqual(rbacPolicies('search/lists'), []);
    assert.ok(traffic.find((x) => x['name'] === 'search/lists')!['typed_per_filter_config']['envoy.filters.http.ext_proc']);
    // The list routes take resources/templates/list too; a listen's body goes to the control plane (its URIs against the rules).
    assert.match(
      traffic.find((x) => x['name'] === 'search/lists')!['match'].dynamic_metadata[0].value.string_match.safe_regex.regex,
      /\|resources\/templates\/list$/,
    );
    const listen = traffic.find((x) => x['name'] === 'search/listen/2026')!['typed_per_filter_config'];
    assert.equal(listen['envoy.filters.http.ext_proc'].config.overrides.processing_mode.request_body_mode, 'BUFFERED');
    assert.equal(listen['envoy.filters.http.jwt_authn'].requirement_name, 'corp.claims');
    // Without rules: the provider itself (no payload metadata), and no list filter.
    const jwtOnly = serverRoutes(catalogServer({ auth: { provider: 'corp' } })) as Json[];
    for (const r of jwtOnly.slice(1)) {
      assert.equal(r['typed_per_filter_config']['envoy.filters.http.jwt_authn'].requirement_name, 'corp', r['name']);
      assert.equal(r['typed_per_filter_config']['envoy.filters.http.ext_proc'], undefined, r['name']);
      assert.equal(r['typed_per_filter_config']['envoy.filters.http.rbac'], undefined, r['name']);
    }
    const refused = serverRoutes(catalogServer({ auth: { provider: 'nope' } })) as Json[];
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!['direct_response'].status, 503);
    // No mesh auth, no server auth: nothing changes.
    const open = serverRoutes(catalogServer({}, null)) as Json[];
    assert.ok(open.every((r) => r['typed_per_filter_config'] === undefined));
  });

  test('the whole snapshot encodes (every field is known to the protos), with a JWKS cluster per remote JWKS', () => {
    const server = catalogServer({ auth: { rules: [{ name: 'r', when: { sub: ['a'] }, tools: ['echo'], resources: ['file:///x'] }] } });
    const snapshot = buildSnapshot({ servers: [server] }, { address: '127.0.0.1', port: 10000, auth: meshAuth() });
    const clusters = [...(snapshot.get('type.googleapis.com/envoy.config.cluster.v3.Cluster')?.resources.keys() ?? [])];
    assert.deepEqual(clusters.sort(), ['jwks_partner', 'mcp_search']);
  });
});
