// What 2025-era session traffic needs from Envoy for a session to move to
// another adapter replica: every route (tools of either kind, other methods,
// the GET stream) retries a request that never reached a replica
// (connect-failure, reset before the request, and the adapter's retryable
// 503s) on another host, and the session filter is not strict, so a session
// whose replica is unhealthy or gone goes to the load balancer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { buildListener } from '../../../control-plane/envoy/listener.js';
import { serverRoutes } from '../../../control-plane/envoy/routes.js';
import { RETRYABLE_HEADER } from '../../../lib/mesh-contracts.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, any>;

test('every route of a server retries what never reached a replica, on another host, for safe and unsafe tools alike', () => {
  const spec = serverSpec('tools', [1, 2, 3]);
  const tools = new Map([
    [
      'tools',
      [
        { name: 'read', readOnly: true, idempotent: true },
        { name: 'write', readOnly: false, idempotent: false },
      ],
    ],
  ]);
  const catalog = buildCatalog({ servers: new Map([[spec.name, spec]]) }, tools);
  const routes = serverRoutes(catalog.servers[0]!) as Json[];
  // The header-mismatch routes answer from Envoy: nothing of theirs reaches a replica.
  const forwarded = routes.filter((r) => r['direct_response'] === undefined);
  assert.deepEqual(
    forwarded.map((r) => r['name']),
    [
      'tools/tool/read',
      'tools/tool/write',
      'tools/tools-call/2026',
      'tools/tools-call',
      'tools/listen/2026',
      'tools/rpc/2026',
      'tools/rpc',
      'tools/get-delete',
      'tools/default',
    ],
  );
  for (const r of forwarded) {
    const p = r['route']['retry_policy'] as Json;
    const on = String(p['retry_on']).split(',');
    for (const cond of ['connect-failure', 'retriable-headers']) assert.ok(on.includes(cond), `${r['name']}: ${cond}`);
    assert.ok(on.includes('reset') || on.includes('reset-before-request'), `${r['name']}: a reset`);
    assert.deepEqual(p['retriable_headers'], [{ name: RETRYABLE_HEADER, string_match: { exact: 'true' } }]);
    assert.equal(p['retry_host_predicate'][0]['name'], 'envoy.retry_host_predicates.previous_hosts', `${r['name']}: retries go elsewhere`);
    assert.ok(Number(p['num_retries']?.['value'] ?? p['num_retries']) >= 1);
  }
  // The GET stream and non-tool methods (subscribe, setLevel) take routes on which any 5xx or reset retries.
  for (const name of ['tools/rpc/2026', 'tools/rpc', 'tools/get-delete']) {
    const on = String(forwarded.find((r) => r['name'] === name)!['route']['retry_policy']['retry_on']).split(',');
    for (const cond of ['5xx', 'reset']) assert.ok(on.includes(cond), `${name}: ${cond}`);
  }
});

test('the session filter keys on mcp-session-id, is not strict, and keeps the default override host statuses', () => {
  const listener = buildListener({ address: '127.0.0.1', port: 10000 }) as Json;
  const filters = listener['filter_chains'][0]['filters'][0]['typed_config']['http_filters'] as Json[];
  const session = filters.find((f) => f['name'] === 'envoy.filters.http.stateful_session')!;
  assert.equal(session['typed_config']['strict'], false);
  assert.equal(JSON.stringify(session).includes('override_host_status'), false);
  assert.equal(JSON.stringify(session).includes('mcp-session-id'), true);
});
