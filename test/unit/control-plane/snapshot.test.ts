import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec, SourceState } from '../../../control-plane/catalog/model.js';
import { pathGuard } from '../../../control-plane/envoy/route-path-guard.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { unpackAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { serverSpec } from '../../support/specs.js';

const listener = { address: '127.0.0.1', port: 10000 };

function state(...servers: ServerSpec[]): SourceState {
  return { servers: new Map(servers.map((s) => [s.name, s])) };
}

const server = serverSpec;

describe('snapshot translation', () => {
  test('equal catalogs give equal versions (content hashes)', () => {
    const a = buildSnapshot(buildCatalog(state(server('x', [1, 2])), new Map()), listener);
    const b = buildSnapshot(buildCatalog(state(server('x', [2, 1])), new Map()), listener);
    for (const t of [TYPE.cluster, TYPE.endpoints, TYPE.listener, TYPE.route]) assert.equal(a.get(t)!.version, b.get(t)!.version);
  });

  test('a replica change changes only the endpoints of that server', () => {
    const before = buildSnapshot(buildCatalog(state(server('x', [1]), server('y', [5])), new Map()), listener);
    const after = buildSnapshot(buildCatalog(state(server('x', [1, 2]), server('y', [5])), new Map()), listener);
    assert.equal(before.get(TYPE.cluster)!.version, after.get(TYPE.cluster)!.version);
    assert.equal(before.get(TYPE.route)!.version, after.get(TYPE.route)!.version);
    const eb = before.get(TYPE.endpoints)!.resources;
    const ea = after.get(TYPE.endpoints)!.resources;
    assert.notEqual(eb.get('mcp_x')!.version, ea.get('mcp_x')!.version);
    assert.equal(eb.get('mcp_y')!.version, ea.get('mcp_y')!.version);
  });

  test('clusters use least-request, eject one of three, and carry a retry budget', () => {
    const snap = buildSnapshot(buildCatalog(state(server('x', [1, 2, 3])), new Map()), listener);
    const c = unpackAny(snap.get(TYPE.cluster)!.resources.get('mcp_x')!.any) as Record<string, any>;
    assert.equal(c['load_balancing_policy'].policies[0].typed_extension_config.name, 'envoy.load_balancing_policies.least_request');
    assert.equal(c['outlier_detection'].max_ejection_percent.value, 50);
    assert.equal(c['outlier_detection'].enforcing_consecutive_gateway_failure.value, 100);
    assert.equal(c['circuit_breakers'].thresholds[0].retry_budget.budget_percent.value, 25);
  });

  test('each tool gets its own route with its retry policy, matched on the body; the default route has no whole-response timeout and retries only what never reached a server', () => {
    const snap = buildSnapshot(
      buildCatalog(state(server('x', [1])), new Map([['x', [{ name: 'read', readOnly: true, idempotent: false }]]])),
      listener,
    );
    const rc = unpackAny(snap.get(TYPE.route)!.resources.get('mcp_routes')!.any) as Record<string, any>;
    const routes = rc['virtual_hosts'][0].routes as Record<string, any>[];
    const byName = new Map(routes.map((r) => [r['name'] as string, r]));
    assert.deepEqual(
      routes.map((r) => r['name']),
      [
        'x/header-mismatch/method',
        'x/header-mismatch/method-claim',
        'x/header-mismatch/tool/read',
        'x/tool/read',
        'x/tools-call/2026',
        'x/tools-call',
        'x/listen/2026',
        'x/rpc/2026',
        'x/rpc',
        'x/get-delete',
        'x/default',
      ],
    );
    const safe = '5xx,reset,connect-failure,refused-stream,retriable-headers';
    const unsafe = 'connect-failure,refused-stream,reset-before-request,retriable-headers';
    const read = byName.get('x/tool/read')!;
    assert.equal(read['route'].retry_policy.retry_on, safe);
    // The body's keys, never a header, pick the route: the one header matcher is the path guard.
    assert.deepEqual(read['match'].headers, [pathGuard('/mcp/x')]);
    assert.deepEqual(
      read['match'].dynamic_metadata.map((m: any) => [m.filter, m.path[0].key, m.value.string_match.exact]),
      [
        ['mcpmesh', 'method', 'tools/call'],
        ['mcpmesh', 'name', 'read'],
      ],
    );
    // Headers present take the body's values; none is added.
    assert.deepEqual(
      read['request_headers_to_add'].map((h: any) => [h.header.key, h.header.value, h.append_action]),
      [
        ['mcp-method', 'tools/call', 'OVERWRITE_IF_EXISTS'],
        ['mcp-name', 'read', 'OVERWRITE_IF_EXISTS'],
      ],
    );
    const mismatch = byName.get('x/header-mismatch/tool/read')!;
    assert.equal(mismatch['direct_response'].status, 400);
    assert.equal(JSON.parse(mismatch['direct_response'].body.inline_string).error.code, -32020);
    assert.deepEqual(mismatch['match'].headers[0], pathGuard('/mcp/x'));
    assert.deepEqual(
      mismatch['match'].headers.slice(1).map((h: any) => [h.name, h.string_match.exact, h.invert_match ?? false]),
      [
        ['mcp-protocol-version', '2026-07-28', false],
        ['mcp-name', 'read', true],
        ['mcp-name', '=?base64?cmVhZA==?=', true],
      ],
    );
    assert.equal(byName.get('x/tools-call')!['route'].retry_policy.retry_on, unsafe);
    assert.deepEqual(byName.get('x/tools-call')!['request_headers_to_remove'], ['mcp-method', 'mcp-name']);
    assert.equal(byName.get('x/tools-call/2026')!['request_headers_to_remove'], undefined);
    assert.equal(byName.get('x/rpc')!['route'].retry_policy.retry_on, safe);
    assert.equal(byName.get('x/get-delete')!['route'].retry_policy.retry_on, safe);
    const fallback = byName.get('x/default')!;
    assert.equal(fallback['route'].retry_policy.retry_on, unsafe);
    const timeout = fallback['route'].timeout as { seconds?: string; nanos?: number };
    assert.equal(Number(timeout.seconds ?? 0) * 1000 + (timeout.nanos ?? 0) / 1e6, 0);
    assert.ok(fallback['route'].idle_timeout.seconds > 0);
    assert.equal(fallback['route'].prefix_rewrite, '/mcp');
  });

  test('a tool name that is not a plain header value is written in the Base64 form', async () => {
    const { headerForm } = await import('../../../control-plane/envoy/mcp-route-keys.js');
    assert.equal(headerForm('read_file'), 'read_file');
    assert.equal(headerForm('résumé'), `=?base64?${Buffer.from('résumé').toString('base64')}?=`);
    assert.equal(headerForm(' padded'), `=?base64?${Buffer.from(' padded').toString('base64')}?=`);
    assert.equal(headerForm('=?base64?x?='), `=?base64?${Buffer.from('=?base64?x?=').toString('base64')}?=`);
  });

  test('a field the proto does not have is a translation error, not a silent drop', async () => {
    const { packAny } = await import('../../../control-plane/xds/api/envoy-protos.js');
    assert.throws(
      () => packAny(TYPE.cluster, { name: 'x', lb_polcy: 'ROUND_ROBIN' }),
      /lb_polcy: no such field in \.envoy\.config\.cluster\.v3\.Cluster/,
    );
  });
});

describe('snapshot builder cache', () => {
  test('the joined route configuration equals the one encoded whole', async () => {
    const { buildRouteConfiguration } = await import('../../../control-plane/envoy/routes.js');
    const { packAny } = await import('../../../control-plane/xds/api/envoy-protos.js');
    const catalog = buildCatalog(
      state(server('x', [1]), server('y', [2, 3])),
      new Map([['x', [{ name: 't', readOnly: true, idempotent: true }]]]),
    );
    const joined = buildSnapshot(catalog, listener).get(TYPE.route)!.resources.get('mcp_routes')!.any.value;
    const whole = packAny(TYPE.route, buildRouteConfiguration(catalog)).value;
    assert.deepEqual(Buffer.from(joined), Buffer.from(whole));
  });

  test('a cached rebuild gives the same bytes and versions as a fresh one', async () => {
    const { SnapshotBuilder } = await import('../../../control-plane/snapshot-builder.js');
    const builder = new SnapshotBuilder();
    builder.build(buildCatalog(state(server('x', [1]), server('y', [2])), new Map()), listener);
    const next = buildCatalog(state(server('x', [1, 4]), server('y', [2])), new Map());
    const cached = builder.build(next, listener);
    const fresh = buildSnapshot(next, listener);
    for (const t of [TYPE.cluster, TYPE.endpoints, TYPE.listener, TYPE.route]) assert.equal(cached.get(t)!.version, fresh.get(t)!.version);
  });
});
