// Every admin API route against a small fake of the AdminBackend interface.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { type AdminBackend, NotFoundError, type ServerView, ValidationError } from '../../../control-plane/admin/admin-backend.js';
import { buildAdminServer } from '../../../control-plane/admin/admin-server.js';
import { resolvePolicy } from '../../../control-plane/catalog/policy-resolution.js';

const server: ServerView = {
  name: 'search',
  path: '/mcp',
  agentUrlPath: '/mcp/search',
  protocol: 'auto',
  replicas: [{ id: 'r1', address: '127.0.0.1:1', health: 'healthy', weight: 1, drained: false }],
  explicitPolicy: null,
  effectivePolicy: { policy: resolvePolicy({}), toolRoutes: [] },
};

function fake() {
  const calls: string[] = [];
  const backend: AdminBackend = {
    servers: () => [server],
    scrapeTargets: () => [{ targets: ['127.0.0.1:17100'], labels: { server: 'search', replica: '127.0.0.1:17100' } }],
    server: (n) => (n === 'search' ? server : undefined),
    clients: () => [],
    snapshot: () => ({
      version: { clusters: 'a', endpoints: 'b', listeners: 'c', routes: 'd' },
      resources: { clusters: [], endpoints: [], listeners: [], routes: [] },
    }),
    source: () => ({ kind: 'file', synced: true, stale: false, lastError: undefined, lastSyncAt: 1 }),
    readiness: () => ({ ready: calls.length === 0, checks: { source: { ok: true } } }),
    setPolicy: async (n, p) => {
      if (n !== 'search') throw new NotFoundError(`no MCP server named "${n}"`);
      if ((p as Record<string, unknown>)['timeout'] === 'soon')
        throw new ValidationError('invalid policy', ['policy.timeout: "soon" is not a duration']);
      calls.push(`set ${n} ${JSON.stringify(p)}`);
    },
    deletePolicy: async (n) => {
      if (n !== 'search') throw new NotFoundError(`no MCP server named "${n}"`);
      calls.push(`delete ${n}`);
    },
    drainReplica: async (n, id) => {
      if (n !== 'search' || id !== 'r1') throw new NotFoundError(`server "${n}" has no replica "${id}"`);
      calls.push(`drain ${n}/${id}`);
    },
    undrainReplica: async (n, id) => void calls.push(`undrain ${n}/${id}`),
  };
  return { backend, calls };
}

const auth = { authorization: 'Bearer s3cret' };

describe('admin API', () => {
  const { backend, calls } = fake();
  const app = buildAdminServer({ backend, registry: new Registry(), token: 's3cret', bodyLimitBytes: 1024 });

  test('reads: servers, one server, clients, snapshot, source, probes, metrics, OpenAPI', async () => {
    assert.equal((await app.inject({ url: '/api/v1/servers' })).json().servers[0].name, 'search');
    assert.equal((await app.inject({ url: '/api/v1/servers/search' })).json().agentUrlPath, '/mcp/search');
    assert.deepEqual((await app.inject({ url: '/api/v1/clients' })).json(), { clients: [] });
    assert.equal((await app.inject({ url: '/api/v1/snapshot' })).json().version.routes, 'd');
    assert.equal((await app.inject({ url: '/api/v1/source' })).json().synced, true);
    assert.deepEqual((await app.inject({ url: '/api/v1/sd/adapters' })).json(), [
      { targets: ['127.0.0.1:17100'], labels: { server: 'search', replica: '127.0.0.1:17100' } },
    ]);
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/api/v1/servers/{name}/policy'].put);
    const docs = await app.inject({ url: '/docs' });
    assert.equal(docs.statusCode, 302, 'the page lives at docs/, so that its assets load by relative URLs');
    assert.equal(docs.headers.location, 'docs/');
    assert.match((await app.inject({ url: '/docs/' })).body, /src="\.\/static\/swagger-ui-bundle\.js"/);
  });

  test('unknown ids and routes: 404 in the one error shape', async () => {
    const r = await app.inject({ url: '/api/v1/servers/nope' });
    assert.equal(r.statusCode, 404);
    assert.deepEqual(r.json(), { error: { code: 'not_found', message: 'no MCP server named "nope"' } });
    assert.equal((await app.inject({ url: '/api/v1/nothing' })).json().error.code, 'not_found');
    const d = await app.inject({ method: 'POST', url: '/api/v1/servers/search/replicas/zz/drain', headers: auth });
    assert.equal(d.statusCode, 404);
    assert.equal(
      (await app.inject({ method: 'PUT', url: '/api/v1/servers/nope/policy', headers: auth, payload: { timeout: '1s' } })).statusCode,
      404,
    );
  });

  test('changes need the token: missing 401, wrong 401, right 202', async () => {
    const body = { timeout: '5s' };
    const missing = await app.inject({ method: 'PUT', url: '/api/v1/servers/search/policy', payload: body });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().error.code, 'unauthorized');
    const wrong = await app.inject({
      method: 'PUT',
      url: '/api/v1/servers/search/policy',
      payload: body,
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(wrong.statusCode, 401);
    const ok = await app.inject({ method: 'PUT', url: '/api/v1/servers/search/policy', payload: body, headers: auth });
    assert.equal(ok.statusCode, 202);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/servers/search/policy', headers: auth })).statusCode, 202);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/api/v1/servers/search/replicas/r1/drain', headers: auth })).json().status,
      'draining',
    );
    assert.equal(
      (await app.inject({ method: 'POST', url: '/api/v1/servers/search/replicas/r1/undrain', headers: auth })).json().status,
      'serving',
    );
    assert.deepEqual(calls, ['set search {"timeout":"5s"}', 'delete search', 'drain search/r1', 'undrain search/r1']);
  });

  test('validation errors name the field; bad bodies get 400, 413 and 415', async () => {
    // The route validates with the policy schema itself (its Zod messages), before the backend sees the body.
    const invalid = await app.inject({ method: 'PUT', url: '/api/v1/servers/search/policy', payload: { timeout: 'soon' }, headers: auth });
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(invalid.json(), {
      error: {
        code: 'invalid_policy',
        message: 'invalid policy',
        details: ['policy.timeout: "soon" is not a duration (use e.g. 250ms, 5s, 2m)'],
      },
    });
    const notObject = await app.inject({
      method: 'PUT',
      url: '/api/v1/servers/search/policy',
      payload: '[1]',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    assert.equal(notObject.statusCode, 400);
    const malformed = await app.inject({
      method: 'PUT',
      url: '/api/v1/servers/search/policy',
      payload: '{"timeout":',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().error.code, 'bad_request');
    const big = await app.inject({
      method: 'PUT',
      url: '/api/v1/servers/search/policy',
      payload: { pad: 'x'.repeat(5000) },
      headers: auth,
    });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error.code, 'payload_too_large');
    const type = await app.inject({
      method: 'PUT',
      url: '/api/v1/servers/search/policy',
      payload: 'timeout=1s',
      headers: { ...auth, 'content-type': 'text/plain' },
    });
    assert.equal(type.statusCode, 415);
  });

  test('without a configured token the API is read-only; with read auth, reads need it too', async () => {
    const open = buildAdminServer({ backend, registry: new Registry() });
    assert.equal((await open.inject({ url: '/api/v1/servers' })).statusCode, 200);
    const change = await open.inject({ method: 'DELETE', url: '/api/v1/servers/search/policy' });
    assert.equal(change.statusCode, 403);
    const strict = buildAdminServer({ backend, registry: new Registry(), token: 's3cret', readAuth: true });
    assert.equal((await strict.inject({ url: '/api/v1/servers' })).statusCode, 401);
    assert.equal((await strict.inject({ url: '/api/v1/servers', headers: auth })).statusCode, 200);
    assert.equal((await strict.inject({ url: '/healthz' })).statusCode, 200, 'probes stay open');
  });
});
