// Balancing from the policy to Envoy's config: the schema's rules, one cluster
// per balancing over one ClusterLoadAssignment, the hash policies, slow start,
// and localities with priorities.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { datacenterPriorities, localityGroups } from '../../../control-plane/catalog/locality.js';
import type { Replica, ServerSpec } from '../../../control-plane/catalog/model.js';
import { policyToInput } from '../../../control-plane/catalog/policy-format.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildLoadAssignment } from '../../../control-plane/envoy/endpoints.js';
import { buildRouteConfiguration } from '../../../control-plane/envoy/routes.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { unpackAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { consistencyProblems } from '../../../control-plane/xds/snapshot-consistency.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, any>;
const listener = { address: '127.0.0.1', port: 10000 };

function policy(input: unknown) {
  const p = parsePolicy(input);
  assert.ok(p.ok, p.ok ? '' : p.errors.join('; '));
  return p.policy;
}

function snapshot(...servers: ServerSpec[]) {
  return buildSnapshot(buildCatalog({ servers: new Map(servers.map((s) => [s.name, s])) }, new Map()), listener);
}

function clusters(snap: ReturnType<typeof snapshot>): Map<string, Json> {
  return new Map([...snap.get(TYPE.cluster)!.resources].map(([n, r]) => [n, unpackAny(r.any) as Json]));
}

function policyOf(c: Json): { name: string; config: Json } {
  const ext = c['load_balancing_policy'].policies[0].typed_extension_config;
  return { name: ext.name, config: ext.typed_config };
}

describe('load-balancing policy schema', () => {
  test('accepts each strategy with what it needs', () => {
    for (const lb of [
      {},
      { strategy: 'least-request' },
      { strategy: 'round-robin', slowStart: { window: '30s' } },
      { strategy: 'random' },
      { strategy: 'ring-hash', hashOn: { header: 'x-tenant' } },
      { strategy: 'maglev', hashOn: { argument: 'repo' } },
      { slowStart: { window: '1m', aggression: 2, minWeightPercent: 20 } },
    ]) {
      assert.ok(parsePolicy({ loadBalancing: lb }).ok, JSON.stringify(lb));
      assert.ok(parsePolicy({ tools: { t: { loadBalancing: lb } } }).ok, `tool ${JSON.stringify(lb)}`);
    }
  });

  test('refuses what cannot work, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ strategy: 'ring-hash' }, /loadBalancing\.hashOn: ring-hash needs hashOn/],
      [{ strategy: 'random', hashOn: { header: 'x' } }, /loadBalancing\.hashOn: hashOn is for ring-hash and maglev/],
      [
        { strategy: 'maglev', hashOn: { argument: 'a' }, slowStart: { window: '10s' } },
        /loadBalancing\.slowStart: slowStart is for least-request and round-robin/,
      ],
      [{ strategy: 'fastest' }, /loadBalancing\.strategy/],
      [{ strategy: 'ring-hash', hashOn: { header: 'X Tenant' } }, /hashOn/],
      [{ strategy: 'ring-hash', hashOn: { argument: 'a.b' } }, /hashOn/],
      [{ strategy: 'ring-hash', hashOn: { header: 'x', argument: 'y' } }, /hashOn/],
      [{ slowStart: { window: '100ms' } }, /slowStart\.window: "100ms" is not a duration within 1s\.\.1h/],
      [{ slowStart: { window: '10s', minWeightPercent: 150 } }, /slowStart\.minWeightPercent/],
      [{ stratgy: 'random' }, /Unrecognized key: "stratgy"/],
    ];
    for (const [lb, why] of cases) {
      const p = parsePolicy({ loadBalancing: lb });
      assert.ok(!p.ok, JSON.stringify(lb));
      assert.match(p.errors.join('; '), why, JSON.stringify(lb));
    }
  });
});

describe('load-balancing policy as written back', () => {
  test('a slow-start window round-trips as a duration string (admin API, file and KV writes)', () => {
    const input = {
      loadBalancing: { strategy: 'round-robin', slowStart: { window: '30s', minWeightPercent: 5 } },
      tools: { window: { loadBalancing: { strategy: 'maglev', hashOn: { argument: 'timeout' } } } },
    };
    assert.deepEqual(policyToInput(policy(input)), input);
  });
});

describe('clusters and routes per balancing', () => {
  test('the default is least-request with two choices, and nothing else changes', () => {
    const c = clusters(snapshot(serverSpec('x', [1, 2, 3]))).get('mcp_x')!;
    const p = policyOf(c);
    assert.equal(p.name, 'envoy.load_balancing_policies.least_request');
    assert.equal(p.config['choice_count'].value, 2);
    assert.equal(p.config['slow_start_config'], undefined);
    assert.equal(p.config['locality_lb_config'], undefined);
  });

  test('each strategy becomes its Envoy policy; slow start is carried over', () => {
    const cases: [unknown, string][] = [
      [{ strategy: 'round-robin' }, 'round_robin'],
      [{ strategy: 'random' }, 'random'],
      [{ strategy: 'ring-hash', hashOn: { header: 'x-k' } }, 'ring_hash'],
      [{ strategy: 'maglev', hashOn: { header: 'x-k' } }, 'maglev'],
    ];
    for (const [lb, name] of cases) {
      const c = clusters(snapshot(serverSpec('x', [1], policy({ loadBalancing: lb })))).get('mcp_x')!;
      assert.equal(policyOf(c).name, `envoy.load_balancing_policies.${name}`);
    }
    const slow = clusters(
      snapshot(
        serverSpec('x', [1], policy({ loadBalancing: { strategy: 'round-robin', slowStart: { window: '30s', minWeightPercent: 5 } } })),
      ),
    ).get('mcp_x')!;
    const s = policyOf(slow).config['slow_start_config'];
    assert.equal(Number(s.slow_start_window.seconds), 30);
    assert.equal(s.aggression.default_value, 1);
    assert.equal(s.min_weight_percent.value, 5);
  });

  test('a tool with a balancing of its own gets one more cluster over the same endpoints, and the snapshot holds together', () => {
    const p = policy({
      tools: {
        a: { loadBalancing: { strategy: 'maglev', hashOn: { argument: 'repo' } } },
        b: { loadBalancing: { strategy: 'maglev', hashOn: { argument: 'repo' } } },
        c: { timeout: '5s' },
      },
    });
    const snap = snapshot(serverSpec('x', [1, 2], p));
    const cs = clusters(snap);
    assert.equal(cs.size, 2, `one cluster for the server, one for a and b: ${[...cs.keys()].join(', ')}`);
    const variant = [...cs.keys()].find((n) => n !== 'mcp_x')!;
    assert.match(variant, /^mcp_x~maglev-[0-9a-f]{10}$/);
    assert.equal(cs.get(variant)!['eds_cluster_config'].service_name, 'mcp_x');
    assert.deepEqual([...snap.get(TYPE.endpoints)!.resources.keys()], ['mcp_x']);
    assert.deepEqual(consistencyProblems(snap), []);
    const routes = (unpackAny(snap.get(TYPE.route)!.resources.get('mcp_routes')!.any) as Json)['virtual_hosts'][0].routes as Json[];
    const byName = new Map(routes.map((r) => [r['name'], r]));
    for (const t of ['a', 'b']) {
      const r = byName.get(`x/tool/${t}`)!;
      assert.equal(r['route'].cluster, variant);
      assert.deepEqual(r['route'].hash_policy, [{ header: { header_name: 'x-mcpmesh-hash-key' } }]);
      assert.ok(r['request_headers_to_remove'].includes('x-mcpmesh-hash-key'));
      const add = (r['request_headers_to_add'] as Json[]).find((h) => h['header'].key === 'x-mcpmesh-hash-key');
      assert.equal(add!['header'].value, '%DYNAMIC_METADATA(mcpmesh:argument.repo)%');
    }
    assert.equal(byName.get('x/tool/c')!['route'].cluster, 'mcp_x');
    assert.equal(byName.get('x/tool/c')!['route'].hash_policy, undefined);
    assert.equal(byName.get('x/tools-call')!['route'].cluster, 'mcp_x');
    // The route table grows by nothing: as many routes as without the balancings.
    const plain = snapshot(serverSpec('x', [1, 2], policy({ tools: { a: {}, b: {}, c: {} } })));
    const plainRoutes = (unpackAny(plain.get(TYPE.route)!.resources.get('mcp_routes')!.any) as Json)['virtual_hosts'][0].routes;
    assert.equal(routes.length, plainRoutes.length);
  });

  test('json_to_metadata extracts each hashed argument once', () => {
    const p = policy({
      loadBalancing: { strategy: 'ring-hash', hashOn: { argument: 'repo' } },
      tools: { a: { loadBalancing: { strategy: 'maglev', hashOn: { argument: 'user' } } } },
    });
    const snap = snapshot(serverSpec('x', [1], p), serverSpec('y', [2], p));
    const l = unpackAny(snap.get(TYPE.listener)!.resources.get('mcp_egress')!.any) as Json;
    const hcm = l['filter_chains'][0].filters[0].typed_config;
    const j2m = (hcm.http_filters as Json[]).find((f) => f['name'] === 'envoy.filters.http.json_to_metadata')!;
    const keys = (j2m['typed_config'].request_rules.rules as Json[]).map((r) => r['on_present'].key);
    // `id` is the request id, for the JSON-RPC body of Envoy's own 429 (rate-limits.ts).
    assert.deepEqual(keys, ['method', 'name', 'uri', 'argument.repo', 'argument.user', 'id']);
  });

  test('a header hash hashes that header, on every route of the server', () => {
    const config = buildRouteConfiguration(
      buildCatalog(
        {
          servers: new Map([
            ['x', serverSpec('x', [1], policy({ loadBalancing: { strategy: 'ring-hash', hashOn: { header: 'x-tenant' } } }))],
          ]),
        },
        new Map(),
      ),
    ) as Json;
    for (const r of config['virtual_hosts'][0].routes as Json[]) {
      if (r['route'] === undefined) continue;
      assert.deepEqual(r['route'].hash_policy, [{ header: { header_name: 'x-tenant' } }], r['name']);
    }
  });
});

describe('localities and priorities', () => {
  const replica = (id: string, datacenter?: string, zone?: string): Replica => ({
    id,
    host: '127.0.0.1',
    port: Number(id),
    health: 'healthy',
    weight: 1,
    ...(datacenter !== undefined || zone !== undefined
      ? { locality: { ...(datacenter ? { datacenter } : {}), ...(zone ? { zone } : {}) } }
      : {}),
  });

  test('the local datacenter is priority 0, the others follow in order, unknown ones last', () => {
    const rs = [replica('1', 'dc1', 'a'), replica('2', 'dc3'), replica('3', 'dc2'), replica('4', 'dc9'), replica('5')];
    const p = datacenterPriorities(['dc1', 'dc2', 'dc3'], rs);
    assert.deepEqual(
      rs.map((r) => p.get(r.locality?.datacenter)),
      [0, 2, 1, 3, 0],
    );
    // Dense: a datacenter without replicas takes no priority.
    assert.deepEqual([...datacenterPriorities(['dc1', 'dc2', 'dc3'], [replica('1', 'dc1'), replica('2', 'dc3')]).values()], [0, 1]);
  });

  test('one locality per datacenter and zone in the load assignment', () => {
    const spec: ServerSpec = {
      ...serverSpec('x', []),
      replicas: [replica('1', 'dc1', 'a'), replica('2', 'dc1', 'b'), replica('3', 'dc1', 'a'), replica('4', 'dc2', 'a')],
    };
    const catalog = buildCatalog({ servers: new Map([['x', spec]]), datacenters: ['dc1', 'dc2'] }, new Map());
    const cla = buildLoadAssignment(catalog.servers[0]!, catalog.datacenters) as Json;
    assert.deepEqual(
      (cla['endpoints'] as Json[]).map((e) => [e['locality'], e['priority'] ?? 0, (e['lb_endpoints'] as Json[]).length]),
      [
        [{ region: 'dc1', zone: 'a' }, 0, 2],
        [{ region: 'dc1', zone: 'b' }, 0, 1],
        [{ region: 'dc2', zone: 'a' }, 1, 1],
      ],
    );
    assert.deepEqual(localityGroups([], [replica('1'), replica('2')]).length, 1);
  });

  test('zones make the cluster zone-aware; several datacenters make retries move on to the next priority', () => {
    const spec: ServerSpec = { ...serverSpec('x', []), replicas: [replica('1', 'dc1', 'a'), replica('2', 'dc2', 'a')] };
    const snap = buildSnapshot(buildCatalog({ servers: new Map([['x', spec]]), datacenters: ['dc1', 'dc2'] }, new Map()), listener);
    const c = clusters(snap).get('mcp_x')!;
    const zoneAware = policyOf(c).config['locality_lb_config'].zone_aware_lb_config;
    assert.equal(Number(zoneAware.min_cluster_size.value), 1);
    assert.equal(zoneAware.force_local_zone.min_size.value, 1);
    const routes = (unpackAny(snap.get(TYPE.route)!.resources.get('mcp_routes')!.any) as Json)['virtual_hosts'][0].routes as Json[];
    const rpc = routes.find((r) => r['name'] === 'x/rpc')!;
    assert.equal(rpc['route'].retry_policy.retry_priority.name, 'envoy.retry_priorities.previous_priorities');
    // One datacenter: no retry priority.
    const single = snapshot(serverSpec('y', [1, 2]));
    const r1 = (unpackAny(single.get(TYPE.route)!.resources.get('mcp_routes')!.any) as Json)['virtual_hosts'][0].routes as Json[];
    assert.equal(r1.find((r) => r['name'] === 'y/rpc')!['route'].retry_policy.retry_priority, undefined);
  });
});
