// The OpenAPI document is generated from the routes: every served route is in
// it and every operation in it is served; each operation says who may call it
// and lists the statuses it can return; `redocly lint` finds nothing, in each
// auth configuration. The pages and documents load without a token.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { AdminBackend, ServerView } from '../../../control-plane/admin/admin-backend.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { resolvePolicy } from '../../../control-plane/catalog/policy-resolution.js';

const server: ServerView = {
  name: 'search',
  path: '/mcp',
  agentUrlPath: '/mcp/search',
  protocol: 'auto',
  replicas: [{ id: 'r1', address: '127.0.0.1:1', health: 'healthy', weight: 1, drained: false }],
  explicitPolicy: { timeout: '5s' },
  effectivePolicy: { policy: resolvePolicy({}), toolRoutes: [] },
};
const backend: AdminBackend = {
  servers: () => [server],
  scrapeTargets: () => [],
  server: (n) => (n === 'search' ? server : undefined),
  clients: () => [],
  snapshot: () => ({
    version: { clusters: 'a', endpoints: 'b', listeners: 'c', routes: 'd' },
    resources: { clusters: [], endpoints: [], listeners: [], routes: [] },
  }),
  source: () => ({ kind: 'file', synced: true, stale: false, lastError: undefined, lastSyncAt: 1 }),
  readiness: () => ({ ready: true, checks: {} }),
  setPolicy: async () => undefined,
  deletePolicy: async () => undefined,
  drainReplica: async () => undefined,
  undrainReplica: async () => undefined,
};

interface Operation {
  operationId?: string;
  security?: { bearer?: string[] }[];
  parameters?: { in: string; name: string; schema: { maxLength?: number } }[];
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
}
type Doc = { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, Operation>> };

/** The app with an onRoute hook that records every route fastify serves. */
function build(opts: { token?: string; readAuth?: boolean }): { app: FastifyInstance; routes: Set<string> } {
  const app = buildAdminServer({ backend, registry: new Registry(), ...opts });
  const routes = new Set<string>();
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) routes.add(`${m} ${r.url}`);
  });
  return { app, routes };
}
const CONFIGS = [
  { name: 'read-only (no token)', opts: {} },
  { name: 'token', opts: { token: 's3cret' } },
  { name: 'token and --admin-read-auth', opts: { token: 's3cret', readAuth: true } },
];
const WRITES = new Set(['put', 'post', 'delete', 'patch']);
const ALWAYS_OPEN = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/console']);

async function documentOf(app: FastifyInstance): Promise<Doc> {
  const r = await app.inject({ url: '/openapi.json' });
  assert.equal(r.statusCode, 200);
  return r.json() as Doc;
}

describe('the OpenAPI document', () => {
  for (const { name, opts } of CONFIGS) {
    test(`${name}: every served route is documented and every operation is served`, async () => {
      const { app, routes } = build(opts);
      await app.ready();
      const doc = await documentOf(app);
      const documented = new Set<string>();
      for (const [path, ops] of Object.entries(doc.paths))
        for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
      const served = new Set(
        [...routes].filter((r) => {
          const [method, url] = r.split(' ') as [string, string];
          // HEAD: fastify's automatic mirror of each GET. /docs: the reference page's own files.
          return method !== 'HEAD' && url !== '/docs' && !url.startsWith('/docs/');
        }),
      );
      assert.deepEqual([...served].sort(), [...documented].sort());
      assert.ok(served.size >= 15);
    });

    test(`${name}: security, statuses and schemas per operation`, async () => {
      const { app } = build(opts);
      const doc = await documentOf(app);
      assert.equal(doc.openapi, '3.1.0');
      assert.deepEqual(doc.servers, [{ url: '.', description: 'this control plane (relative to this document)' }]);
      const ids = new Set<string>();
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const where = `${method.toUpperCase()} ${path}`;
          assert.ok(op.operationId && !ids.has(op.operationId), `${where}: a unique operationId`);
          ids.add(op.operationId);
          const needsToken = WRITES.has(method) || (opts.readAuth === true && !ALWAYS_OPEN.has(path));
          assert.deepEqual(op.security, needsToken ? [{ bearer: [] }] : [], `${where}: security`);
          const codes = Object.keys(op.responses).sort();
          if (WRITES.has(method)) {
            for (const c of ['400', '404', '413', '415']) assert.ok(codes.includes(c), `${where} lists ${c}`);
            assert.ok(codes.includes(opts.token ? '401' : '403'), `${where}: 401 with a token configured, 403 without`);
            assert.ok(!codes.includes(opts.token ? '403' : '401'), `${where}: not both 401 and 403`);
          } else {
            for (const c of ['403', '413', '415']) assert.ok(!codes.includes(c), `${where} cannot return ${c}`);
            assert.equal(codes.includes('401'), needsToken, `${where}: 401 exactly when reads need the token`);
          }
          for (const p of op.parameters ?? [])
            if (p.in === 'path') assert.ok(p.schema.maxLength !== undefined, `${where}: ${p.name} has a length limit`);
          const ok = Object.entries(op.responses).find(([c]) => c.startsWith('2'))![1];
          assert.ok(ok.content && Object.values(ok.content)[0]?.schema, `${where}: a response schema`);
        }
      }
      const listed = doc.paths['/api/v1/servers']!['get']!.responses['200']!.content!['application/json']!.schema as {
        properties: { servers: { items: { properties: Record<string, unknown> } } };
      };
      assert.ok(listed.properties.servers.items.properties['replicas'], 'servers: a response schema of its own');
      for (const p of ['/api/v1/clients', '/api/v1/snapshot'])
        assert.ok(doc.paths[p]!['get']!.responses['200']!.content!['application/json']!.schema!['properties'], `${p}: a response schema`);
      // The policy body is the catalog's own Zod schema, converted: strict, with its bounds and enums.
      const policy = doc.paths['/api/v1/servers/{name}/policy']!['put']!.requestBody!.content['application/json']!.schema as {
        additionalProperties: boolean;
        properties: Record<string, { properties?: Record<string, Record<string, unknown>> }>;
      };
      assert.equal(policy.additionalProperties, false);
      assert.deepEqual(policy.properties['retry']!.properties!['attempts'], { type: 'integer', minimum: 0, maximum: 10 });
      assert.ok((policy.properties['retry']!.properties!['retryOn']!['items'] as { enum: string[] }).enum.includes('retriable-headers'));
    });

    test(`${name}: redocly lint finds no error and no warning`, async () => {
      const { app } = build(opts);
      const file = join(mkdtempSync(join(tmpdir(), 'mcpmesh-openapi-')), 'openapi.json');
      writeFileSync(file, JSON.stringify(await documentOf(app)));
      const r = spawnSync(
        join(process.cwd(), 'node_modules/.bin/redocly'),
        ['lint', file, '--config', 'redocly.yaml', '--format', 'json'],
        {
          encoding: 'utf8',
          env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        },
      );
      assert.equal(r.error, undefined, 'redocly is a devDependency: npm ci');
      const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as {
        totals: { errors: number; warnings: number };
        problems: unknown[];
      };
      assert.deepEqual(out.totals, { errors: 0, warnings: 0, ignored: 0 }, JSON.stringify(out.problems, null, 1).slice(0, 3000));
      assert.equal(r.status, 0, r.stderr);
    });
  }
});

describe('the pages under --admin-read-auth', () => {
  const { app } = build({ token: 's3cret', readAuth: true });
  test('the API page, its assets, the document and the console load without a token; the data does not', async () => {
    for (const url of [
      '/docs/',
      '/docs/static/swagger-ui-bundle.js',
      '/docs/static/swagger-ui.css',
      '/docs/static/swagger-initializer.js',
      '/docs/json',
      '/openapi.json',
      '/console',
    ]) {
      assert.equal((await app.inject({ url })).statusCode, 200, url);
    }
    const page = (await app.inject({ url: '/docs/' })).body;
    assert.doesNotMatch(page, /(src|href)="(\/|https?:)/, 'the page loads its assets by relative URLs only');
    const init = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body;
    assert.match(init, /resolveUrl\('\.\/json'\)/, 'the document by a relative URL');
    assert.deepEqual(
      (await app.inject({ url: '/docs/json' })).json().servers,
      [{ url: '..', description: 'this control plane' }],
      'the API relative to /docs/json',
    );
    const consolePage = (await app.inject({ url: '/console' })).body;
    assert.match(consolePage, /fetch\('api\/v1\/overview'/, 'the console polls by a relative URL');
    assert.doesNotMatch(consolePage, /(src|href)="(\/|https?:)|fetch\('\//);
    for (const url of ['/api/v1/servers', '/api/v1/overview', '/api/v1/clients'])
      assert.equal((await app.inject({ url })).statusCode, 401, url);
    assert.equal((await app.inject({ url: '/api/v1/overview', headers: { authorization: 'Bearer s3cret' } })).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/docs/json' })).statusCode, 401, 'a change is never open');
  });
});

describe('the statuses the document lists for changes are served', () => {
  const { app } = build({ token: 's3cret' });
  const auth = { authorization: 'Bearer s3cret' };
  test('415 for a body that is not JSON and 413 for one too large, on every change; 400 for a parameter too long', async () => {
    const changes = [
      { method: 'PUT' as const, url: '/api/v1/servers/search/policy' },
      { method: 'DELETE' as const, url: '/api/v1/servers/search/policy' },
      { method: 'POST' as const, url: '/api/v1/servers/search/replicas/r1/drain' },
      { method: 'POST' as const, url: '/api/v1/servers/search/replicas/r1/undrain' },
    ];
    for (const c of changes) {
      const type = await app.inject({ ...c, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' });
      assert.equal(type.statusCode, 415, `${c.method} ${c.url}`);
      const big = await app.inject({ ...c, headers: auth, payload: { pad: 'x'.repeat(70 * 1024) } });
      assert.equal(big.statusCode, 413, `${c.method} ${c.url}`);
    }
    const long = await app.inject({ url: `/api/v1/servers/${'a'.repeat(64)}` });
    assert.equal(long.statusCode, 400);
    assert.equal(long.json().error.code, 'bad_request');
    assert.equal(
      (await app.inject({ method: 'POST', url: `/api/v1/servers/search/replicas/${'r'.repeat(513)}/drain`, headers: auth })).statusCode,
      400,
    );
  });
});
