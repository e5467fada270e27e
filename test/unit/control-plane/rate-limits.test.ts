// Rate limits from policy to Envoy config: the schema's rules, which routes
// carry a limit, and the descriptor wiring that gives each verified identity
// (the identity header), else each client address, a bucket per tool.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';
import { buildListener } from '../../../control-plane/envoy/listener.js';
import { RATE_LIMIT_FILTER, retryAfterSeconds } from '../../../control-plane/envoy/rate-limits.js';
import { EnvoyResourceBuilder } from '../../../control-plane/envoy/resource-builder.js';
import { serverRoutes } from '../../../control-plane/envoy/routes.js';
import { meshEntry } from '../../../control-plane/sources/consul-translation.js';
import { parseConfigText, toSourceState } from '../../../control-plane/sources/file-config.js';
import { AGENT_IDENTITY_HEADER } from '../../../lib/mesh-contracts.js';
import { serverSpec } from '../../support/specs.js';

type Json = Record<string, any>;

/** google.protobuf.Struct (message form) back to plain JSON. */
function plain(v: Json): unknown {
  if ('fields' in v) return Object.fromEntries(Object.entries(v['fields'] as Json).map(([k, x]) => [k, plain(x as Json)]));
  if ('structValue' in v) return plain(v['structValue']);
  if ('listValue' in v) return ((v['listValue'] as Json)['values'] as Json[]).map(plain);
  if ('stringValue' in v) return v['stringValue'];
  if ('numberValue' in v) return v['numberValue'];
  if ('boolValue' in v) return v['boolValue'];
  return null;
}

function routesOf(policy: unknown): Json[] {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const spec = serverSpec('tools', [1], parsed.policy);
  const tools = new Map([
    [
      'tools',
      [
        { name: 'echo', readOnly: true, idempotent: true },
        { name: 'write', readOnly: false, idempotent: false },
      ],
    ],
  ]);
  return serverRoutes(buildCatalog({ servers: new Map([[spec.name, spec]]) }, tools).servers[0]!) as Json[];
}

function limitOf(route: Json | undefined): Json | undefined {
  const typed = route?.['typed_per_filter_config']?.[RATE_LIMIT_FILTER] as Json | undefined;
  return typed === undefined ? undefined : (plain(typed['value']) as Json);
}

test('the schema: requests per duration with an optional burst; bad values name their field', () => {
  assert.ok(parsePolicy({ rateLimit: { requests: 10, per: '1m' }, tools: { x: { rateLimit: { requests: 1, per: '1s', burst: 5 } } } }).ok);
  const bad = (p: unknown) => {
    const r = parsePolicy(p);
    assert.equal(r.ok, false);
    return r.ok ? [] : r.errors;
  };
  assert.match(bad({ rateLimit: { requests: 10, per: '1m', burst: 2 } }).join(), /policy\.rateLimit\.burst: burst must be >= requests/);
  assert.match(bad({ rateLimit: { requests: 10, per: '10ms' } }).join(), /policy\.rateLimit\.per: 10ms is outside 50ms/);
  assert.match(bad({ rateLimit: { requests: 0, per: '1s' } }).join(), /policy\.rateLimit\.requests/);
  assert.match(bad({ rateLimit: { requests: 1, per: '1s', perAgent: true } }).join(), /Unrecognized key/);
  assert.match(bad({ tools: { x: { rateLimit: { per: '1s' } } } }).join(), /policy\.tools\.x\.rateLimit\.requests/);
});

test('no rate limit: no route carries the filter config', () => {
  for (const r of routesOf({})) assert.equal(r['typed_per_filter_config'], undefined, String(r['name']));
});

test("tool calls carry their tool's limit, else the server's; other methods none", () => {
  const routes = routesOf({ rateLimit: { requests: 3, per: '6s' }, tools: { echo: { rateLimit: { requests: 4, per: '4s', burst: 8 } } } });
  const byName = new Map(routes.map((r) => [String(r['name']), r]));
  const echo = limitOf(byName.get('tools/tool/echo'))!;
  assert.deepEqual(echo['token_bucket'], { max_tokens: 8, tokens_per_fill: 4, fill_interval: '4s' });
  const write = limitOf(byName.get('tools/tool/write'))!;
  assert.deepEqual(write['token_bucket'], { max_tokens: 3, tokens_per_fill: 3, fill_interval: '6s' });
  for (const name of ['tools/tools-call/2026', 'tools/tools-call'])
    assert.deepEqual(limitOf(byName.get(name))!['token_bucket'], { max_tokens: 3, tokens_per_fill: 3, fill_interval: '6s' }, name);
  for (const name of ['tools/rpc/2026', 'tools/rpc', 'tools/get-delete', 'tools/default'])
    assert.equal(limitOf(byName.get(name)), undefined, name);
  assert.deepEqual(echo['response_headers_to_add'], [
    { header: { key: 'retry-after', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(echo['status'], { code: 'TooManyRequests' });
  assert.deepEqual(echo['filter_enforced'], { default_value: { numerator: 100, denominator: 'HUNDRED' } });
});

test('a verified identity gets a bucket per tool: the identity header keys one descriptor, the address (when it is absent) the other', () => {
  const routes = routesOf({ tools: { echo: { rateLimit: { requests: 4, per: '4s' } } } });
  const echo = limitOf(routes.find((r) => r['name'] === 'tools/tool/echo'))!;
  const [byIdentity, byAddress] = echo['rate_limits'] as Json[];
  // The identity header's value is the descriptor's agent entry, the body's tool name its tool entry.
  assert.deepEqual(byIdentity!['actions'], [
    { request_headers: { header_name: AGENT_IDENTITY_HEADER, descriptor_key: 'agent' } },
    {
      metadata: {
        descriptor_key: 'tool',
        metadata_key: { key: 'mcpmesh', path: [{ key: 'name' }] },
        default_value: '-',
        source: 'DYNAMIC',
      },
    },
  ]);
  // Without the header (and only then) the client's address keys it.
  const [anonymous, address, tool] = byAddress!['actions'] as Json[];
  assert.deepEqual(anonymous, {
    header_value_match: {
      descriptor_key: 'anonymous',
      descriptor_value: 'true',
      expect_match: false,
      headers: [{ name: AGENT_IDENTITY_HEADER, present_match: true }],
    },
  });
  assert.deepEqual(address, { remote_address: {} });
  assert.deepEqual(tool, byIdentity!['actions'][1]);
  // Wildcard values: a bucket for each identity (or address) seen, per tool.
  assert.deepEqual(
    (echo['descriptors'] as Json[]).map((d) => d['entries']),
    [
      [
        { key: 'agent', value: '' },
        { key: 'tool', value: 'echo' },
      ],
      [
        { key: 'anonymous', value: 'true' },
        { key: 'remote_address', value: '' },
        { key: 'tool', value: 'echo' },
      ],
    ],
  );
  assert.equal(echo['always_consume_default_token_bucket'], false);
  assert.ok((echo['max_dynamic_descriptors'] as number) >= 1000);
});

test('the listener removes identity headers agents send first, limits after the route keys and before the router, and answers 429 in JSON-RPC', () => {
  const listener = buildListener({ address: '127.0.0.1', port: 10000 }) as Json;
  const hcm = listener['filter_chains'][0]['filters'][0]['typed_config'] as Json;
  const names = (hcm['http_filters'] as Json[]).map((f) => f['name'] as string);
  // agent-auth.ts's strip of the mesh's identity headers comes first.
  assert.equal(names[0], 'envoy.filters.http.header_mutation');
  assert.match(JSON.stringify(hcm['http_filters'][0]), new RegExp(AGENT_IDENTITY_HEADER));
  assert.ok(names.indexOf(RATE_LIMIT_FILTER) > names.indexOf('envoy.filters.http.json_to_metadata'));
  assert.ok(names.indexOf(RATE_LIMIT_FILTER) < names.indexOf('envoy.filters.http.router'));
  const mapper = (hcm['local_reply_config']['mappers'] as Json[]).find(
    (m) => m['filter']?.['status_code_filter']?.['comparison']?.['value']?.['default_value'] === 429,
  ) as Json;
  const body = plain(mapper['body_format_override']['json_format']) as Json;
  assert.equal(body['id'], '%DYNAMIC_METADATA(mcpmesh:id)%');
  assert.equal(body['error']['code'], -32000);
});

test('Retry-After is the wait for the next token, at least a second', () => {
  assert.equal(retryAfterSeconds({ maxTokens: 4, tokensPerFill: 4, fillIntervalMs: 4_000 }), 1);
  assert.equal(retryAfterSeconds({ maxTokens: 3, tokensPerFill: 3, fillIntervalMs: 6_000 }), 2);
  assert.equal(retryAfterSeconds({ maxTokens: 100, tokensPerFill: 100, fillIntervalMs: 1_000 }), 1);
  assert.equal(retryAfterSeconds({ maxTokens: 10, tokensPerFill: 10, fillIntervalMs: 3_600_000 }), 360);
});

test('a catalog with limits encodes into Envoy resources', () => {
  const parsed = parsePolicy({ rateLimit: { requests: 3, per: '6s' }, tools: { echo: { rateLimit: { requests: 4, per: '250ms' } } } });
  assert.ok(parsed.ok);
  const spec = serverSpec('tools', [1], parsed.policy);
  const catalog = buildCatalog({ servers: new Map([[spec.name, spec]]) }, new Map());
  const resources = new EnvoyResourceBuilder().build(catalog, { address: '127.0.0.1', port: 10000 });
  assert.equal(resources.size, 4);
});

test("a mesh-wide rate limit is every server's that sets none, from the file and from Consul KV", async () => {
  const file = '/tmp/mcpmesh.yaml';
  const text = [
    'rateLimit: { requests: 10, per: 1m }',
    'servers:',
    '  - { name: a, replicas: [http://127.0.0.1:3001/mcp], policy: { tools: { t: { timeout: 1s } } } }',
    '  - { name: b, replicas: [http://127.0.0.1:3002/mcp], policy: { rateLimit: { requests: 2, per: 1s }, tools: { t: { timeout: 1s } } } }',
  ].join('\n');
  const state = await toSourceState(parseConfigText(text, file), file);
  assert.deepEqual(state.mesh?.rateLimit, { requests: 10, per: 60_000 });
  const catalog = buildCatalog(state, new Map());
  const [a, b] = catalog.servers;
  assert.deepEqual(a!.policy.rateLimit, { maxTokens: 10, tokensPerFill: 10, fillIntervalMs: 60_000 });
  assert.deepEqual(a!.toolRoutes[0]!.rateLimit, { maxTokens: 10, tokensPerFill: 10, fillIntervalMs: 60_000 });
  assert.deepEqual(b!.policy.rateLimit, { maxTokens: 2, tokensPerFill: 2, fillIntervalMs: 1_000 }, "the server's own wins");
  // A new read of the same mesh limit keeps the catalog entries (by value, not identity).
  const again = await toSourceState(parseConfigText(text, file), file);
  assert.equal(buildCatalog({ servers: state.servers, ...(again.mesh ? { mesh: again.mesh } : {}) }, new Map()).servers[0], a);
  assert.throws(() => parseConfigText(text.replace('requests: 10', 'requests: -1'), file), /rateLimit\.requests/);
  const kv = (v: unknown) => [{ Key: 'mcpmesh/policy/_mesh', Value: Buffer.from(JSON.stringify(v)).toString('base64'), ModifyIndex: 1 }];
  assert.deepEqual(meshEntry(kv({ rateLimit: { requests: 5, per: '1s' } })), { settings: { rateLimit: { requests: 5, per: 1_000 } } });
  assert.match(JSON.stringify(meshEntry(kv({ rateLimit: { requests: 5 } }))), /rateLimit\.per/);
});
