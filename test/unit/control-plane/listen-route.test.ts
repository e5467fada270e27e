// subscriptions/listen (2026-07-28) is one POST whose SSE answer lives as long
// as its client listens: the route it takes has no whole-request or per-try
// timeout, whatever the server's call timeouts say, and an idle timeout above
// the adapter's keep-alive; it is matched before the other 2026-07-28 methods.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { Policy } from '../../../control-plane/catalog/policy-schema.js';
import { pathGuard } from '../../../control-plane/envoy/route-path-guard.js';
import { LISTEN_MIN_IDLE_TIMEOUT_MS, serverRoutes } from '../../../control-plane/envoy/routes.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, any>;

function routesOf(policy: Policy): Json[] {
  const spec = serverSpec('notes', [1, 2, 3], policy);
  return serverRoutes(buildCatalog({ servers: new Map([[spec.name, spec]]) }, new Map()).servers[0]!) as Json[];
}

test('the listen route has no call timeout or per-try timeout, and an idle timeout above the keep-alive', () => {
  const routes = routesOf({ timeout: 1_000, idleTimeout: 2_000, retry: { perTryTimeout: 500 } } as Policy);
  const names = routes.map((r) => r['name']);
  const listen = routes.find((r) => r['name'] === 'notes/listen/2026');
  assert.ok(listen, 'a listen route');
  assert.ok(names.indexOf('notes/listen/2026') < names.indexOf('notes/rpc/2026'), 'matched before the other 2026-07-28 methods');
  const action = listen['route'] as Json;
  assert.deepEqual(action['timeout'], { seconds: 0, nanos: 0 });
  assert.deepEqual(action['idle_timeout'], { seconds: LISTEN_MIN_IDLE_TIMEOUT_MS / 1000, nanos: 0 });
  assert.equal(action['retry_policy']['per_try_timeout'], undefined);
  // The other methods keep the server's per-try timeout and idle timeout.
  const rpc = routes.find((r) => r['name'] === 'notes/rpc/2026')!['route'] as Json;
  assert.deepEqual(rpc['retry_policy']['per_try_timeout'], { seconds: 0, nanos: 500_000_000 });
  assert.deepEqual(rpc['idle_timeout'], { seconds: 2, nanos: 0 });
  // Only a 2026-07-28 request whose body names subscriptions/listen.
  const match = listen['match'] as Json;
  assert.deepEqual(match['headers'], [pathGuard('/mcp/notes'), { name: 'mcp-protocol-version', string_match: { exact: '2026-07-28' } }]);
  assert.deepEqual(match['dynamic_metadata'], [
    { filter: 'mcpmesh', path: [{ key: 'method' }], value: { string_match: { exact: 'subscriptions/listen' } } },
  ]);
});

test("a server idle timeout longer than the minimum is the listen route's too", () => {
  const listen = routesOf({ idleTimeout: 600_000 } as Policy).find((r) => r['name'] === 'notes/listen/2026')!;
  assert.deepEqual(listen['route']['idle_timeout'], { seconds: 600, nanos: 0 });
});
