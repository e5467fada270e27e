// Every route of a server that Envoy would test headers or body keys on starts
// with the :path guard for the server's own prefix, and the guard is implied
// by the route's path_separated_prefix: it refuses no path the route takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { pathGuard, withPathGuard } from '../../../control-plane/envoy/route-path-guard.js';
import { serverRoutes } from '../../../control-plane/envoy/routes.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, any>;

function routesOf(name: string): Json[] {
  const catalog = buildCatalog(
    { servers: new Map([[name, serverSpec(name, [1])]]) },
    new Map([[name, [{ name: 'read', readOnly: true, idempotent: false }]]]),
  );
  return serverRoutes(catalog.servers[0]!) as Json[];
}

test('each route with header or body-key matchers tests its server path first', () => {
  const routes = routesOf('notes');
  let guarded = 0;
  for (const r of routes) {
    const m = r['match'] as Json;
    if (m['path_separated_prefix'] === undefined) continue;
    assert.equal(m['path_separated_prefix'], '/mcp/notes', r['name']);
    if ((m['dynamic_metadata']?.length ?? 0) === 0 && (m['headers']?.length ?? 0) === 0) continue;
    assert.deepEqual(m['headers'][0], pathGuard('/mcp/notes'), r['name']);
    assert.equal(m['headers'].filter((h: Json) => h['name'] === ':path').length, 1, `${r['name']}: one guard`);
    guarded++;
  }
  assert.ok(guarded >= 10, `most routes are guarded (${guarded})`);
});

test('a route with nothing but its path, or no path prefix, is left as it is', () => {
  const bare = { name: 'x/default', match: { path_separated_prefix: '/mcp/x' } };
  assert.equal(withPathGuard(bare), bare);
  const exact = { name: 'x/doc', match: { path: '/.well-known/x', headers: [{ name: 'a', present_match: true }] } };
  assert.equal(withPathGuard(exact), exact);
});

/** Envoy's path_separated_prefix: the prefix, then the end of the path, '/', or the query. */
function separatedPrefixMatches(path: string, prefix: string): boolean {
  const p = path.split('?')[0]!;
  return p === prefix || p.startsWith(`${prefix}/`);
}

test('the guard refuses no path its route takes (property)', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9-]{1,12}$/), fc.stringMatching(/^[a-z0-9/?=&.-]{0,20}$/), (server, rest) => {
      const prefix = `/mcp/${server}`;
      const path = `${prefix}${rest}`;
      const guard = pathGuard(prefix) as { string_match: { prefix: string } };
      if (separatedPrefixMatches(path, prefix)) assert.ok(path.startsWith(guard.string_match.prefix));
    }),
  );
});
