import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec, ToolInfo } from '../../../control-plane/catalog/model.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildListener } from '../../../control-plane/envoy/listener.js';
import { routedArguments } from '../../../control-plane/envoy/param-routes.js';
import { serverRoutes } from '../../../control-plane/envoy/routes.js';

function spec(name: string, policy: unknown = {}, path = '/mcp'): ServerSpec {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return {
    name,
    path,
    protocol: 'auto',
    tls: false,
    replicas: [{ id: 'a', host: '127.0.0.1', port: 1, health: 'healthy', weight: 1 }],
    policy: parsed.policy,
  };
}

const RULE = { tool: 'locate', param: 'region', value: 'eu', server: 'eu' };
const LOCATE: ToolInfo = {
  name: 'locate',
  readOnly: true,
  idempotent: true,
  params: [{ name: 'Region', path: ['where', 'region'], type: 'string' }],
};

describe('routes on Mcp-Param values', () => {
  test('a rule is active once its tool declares the param (case-insensitively) and its server exists', () => {
    const state = {
      servers: new Map([
        ['home', spec('home', { paramRoutes: [RULE] })],
        ['eu', spec('eu', {}, '/eu-mcp')],
      ]),
    };
    assert.equal(buildCatalog(state, new Map()).servers.find((s) => s.name === 'home')!.paramRoutes, undefined);
    const noTarget = { servers: new Map([['home', spec('home', { paramRoutes: [RULE] })]]) };
    assert.equal(buildCatalog(noTarget, new Map([['home', [LOCATE]]])).servers[0]!.paramRoutes, undefined);
    const tools = new Map([['home', [LOCATE]]]);
    const c = buildCatalog(state, tools);
    const home = c.servers.find((s) => s.name === 'home')!;
    assert.equal(home.paramRoutes?.length, 1);
    assert.equal(home.paramRoutes![0]!.path, '/eu-mcp');
    // Unchanged input: the same object (the resource builder keys encodings by it).
    assert.equal(
      buildCatalog(state, tools).servers.find((s) => s.name === 'home'),
      home,
    );
    assert.deepEqual(routedArguments(c), [['where', 'region']]);
  });

  test('the refusals come before the route, and all of it before the tool routes; 2026-07-28 only', () => {
    const state = {
      servers: new Map([
        ['home', spec('home', { paramRoutes: [RULE] })],
        ['eu', spec('eu')],
      ]),
    };
    const home = buildCatalog(state, new Map([['home', [LOCATE]]])).servers.find((s) => s.name === 'home')!;
    const routes = serverRoutes(home) as Array<{ name: string; match: { headers?: Array<{ name: string }> }; route?: { cluster: string } }>;
    const names = routes.map((r) => r.name);
    const i = names.indexOf('home/param/0/header-differs');
    assert.ok(i >= 0);
    assert.deepEqual(names.slice(i, i + 3), ['home/param/0/header-differs', 'home/param/0/body-differs', 'home/param/0']);
    assert.ok(i + 2 < names.indexOf('home/tool/locate'));
    const route = routes[i + 2]!;
    assert.match(route.route!.cluster, /eu/);
    assert.ok(route.match.headers?.some((h) => h.name === 'mcp-protocol-version'));
    assert.ok(routes[i]!.match.headers?.some((h) => h.name === 'mcp-param-region'));
  });

  test('the listener reads routed arguments into metadata, and only those', () => {
    const plain = JSON.stringify(buildListener({ address: '127.0.0.1', port: 1 }));
    assert.equal(plain.includes('arg:'), false);
    const withArgs = JSON.stringify(buildListener({ address: '127.0.0.1', port: 1, routedArguments: [['where', 'region']] }));
    assert.ok(withArgs.includes('"key":"arg:where.region"'));
    assert.ok(withArgs.includes('{"key":"params"},{"key":"arguments"},{"key":"where"},{"key":"region"}'));
  });
});
