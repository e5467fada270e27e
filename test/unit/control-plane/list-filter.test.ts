// List filtering without Envoy: the rules evaluated over a verified payload
// (the same meaning as Envoy's DENY policies), list answers filtered in JSON
// and SSE bodies, failing on anything unreadable, resource templates matched
// against URIs, and the request bodies the control plane checks (batches,
// subscriptions/listen).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuthRule } from '../../../control-plane/catalog/auth-schema.js';
import { filterListBody, UnfilterableBody } from '../../../control-plane/list-filter/list-body-filter.js';
import { requestBodyCheck, sniffContentType, structToJson } from '../../../control-plane/list-filter/list-filter-service.js';
import { listenVerdict } from '../../../control-plane/list-filter/listen-check.js';
import { allowedItems, ruleApplies } from '../../../control-plane/list-filter/rule-match.js';
import { templateMatcher, templateReachesAny } from '../../../control-plane/list-filter/uri-template-match.js';

const RULES: AuthRule[] = [
  { name: 'readers', when: { scopes: ['read'] }, tools: ['echo'], resources: ['file:///a'] },
  { name: 'alice', when: { sub: ['alice'] }, tools: ['whoami'], prompts: ['greet'] },
  { name: 'ops', when: { claims: { groups: ['ops'] } }, tools: ['*'] },
];

const only = (names: string[]) => ({ all: false as const, names: new Set(names) });

describe('rules over a verified payload', () => {
  test('every condition of `when` must hold; lists and strings both match a claim', () => {
    assert.equal(ruleApplies(RULES[0]!, { sub: 'x', scope: ['openid', 'read'] }), true);
    assert.equal(ruleApplies(RULES[0]!, { sub: 'x', scope: ['openid'] }), false);
    assert.equal(ruleApplies(RULES[2]!, { groups: ['staff', 'ops'] }), true);
    assert.equal(ruleApplies(RULES[2]!, { groups: 'ops' }), true);
    assert.equal(ruleApplies({ name: 'any' }, undefined), false, 'no verified token, no rule');
    assert.equal(ruleApplies({ name: 'any' }, {}), true);
  });

  test('what a caller may use: the union of the rules that apply; a wildcard is everything', () => {
    const both = allowedItems(RULES, { sub: 'alice', scope: ['read'] }, 'tools');
    assert.ok(!both.all);
    assert.deepEqual([...both.names].sort(), ['echo', 'whoami']);
    assert.deepEqual(allowedItems(RULES, { sub: 'bob', groups: ['ops'] }, 'tools'), { all: true });
    const none = allowedItems(RULES, { sub: 'bob' }, 'prompts');
    assert.ok(!none.all && none.names.size === 0);
  });
});

describe('list bodies', () => {
  const tools = {
    jsonrpc: '2.0',
    id: 3,
    result: { tools: [{ name: 'echo' }, { name: 'increment' }, { name: 'whoami' }], nextCursor: 'c' },
  };

  test('JSON: the list keeps only what is allowed, everything else as it was', () => {
    const out = JSON.parse(filterListBody(JSON.stringify(tools), 'application/json; charset=utf-8', 'tools', only(['echo', 'nope'])));
    assert.deepEqual(out, { jsonrpc: '2.0', id: 3, result: { tools: [{ name: 'echo' }], nextCursor: 'c' } });
    const resources = {
      jsonrpc: '2.0',
      id: 1,
      result: {
        resources: [
          { uri: 'file:///a', name: 'a' },
          { uri: 'file:///b', name: 'b' },
        ],
      },
    };
    assert.deepEqual(JSON.parse(filterListBody(JSON.stringify(resources), 'application/json', 'resources', only(['file:///a']))).result, {
      resources: [{ uri: 'file:///a', name: 'a' }],
    });
    const err = { jsonrpc: '2.0', id: 1, error: { code: -1, message: 'x' } };
    assert.deepEqual(JSON.parse(filterListBody(JSON.stringify(err), 'application/json', 'tools', only([]))), err);
  });

  test('SSE: each event filtered, ids and other fields kept', () => {
    const body = `event: message\nid: 7\ndata: ${JSON.stringify(tools)}\n\n`;
    const out = filterListBody(body, 'text/event-stream', 'tools', only(['whoami']));
    const [event] = out.split('\n\n');
    assert.deepEqual(event!.split('\n').slice(0, 2), ['event: message', 'id: 7']);
    assert.deepEqual(JSON.parse(event!.split('\n')[2]!.slice(6)).result.tools, [{ name: 'whoami' }]);
  });

  test('what cannot be read fails (the caller answers 502), never passes unfiltered', () => {
    for (const [body, type] of [
      ['{not json', 'application/json'],
      ['[1,2]', 'application/json'],
      [JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: 'all' } }), 'application/json'],
      ['data: {oops\n\n', 'text/event-stream'],
      ['hello', 'text/plain'],
    ] as const) {
      assert.throws(() => filterListBody(body, type, 'tools', only([])), UnfilterableBody, body);
    }
  });

  test('the work is linear: one lookup per item, one parse and one serialization per message', () => {
    let lookups = 0;
    const names = new Set(Array.from({ length: 1000 }, (_, i) => `t${i * 3}`));
    const has = (name: string): boolean => {
      lookups += 1;
      return names.has(name);
    };
    const counting = { all: false as const, names: { has } as unknown as ReadonlySet<string> };
    const n = 20_000;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: Array.from({ length: n }, (_, i) => ({ name: `t${i}` })) } });
    const parse = JSON.parse;
    let parses = 0;
    JSON.parse = ((text: string) => {
      parses += 1;
      return parse(text);
    }) as typeof JSON.parse;
    try {
      const out = parse(filterListBody(body, 'application/json', 'tools', counting)) as { result: { tools: unknown[] } };
      assert.equal(out.result.tools.length, 1000);
    } finally {
      JSON.parse = parse;
    }
    assert.equal(lookups, n);
    assert.equal(parses, 1);
  });
});

test('an answer whose headers were not sent: JSON or SSE from its first bytes', () => {
  assert.equal(sniffContentType(Buffer.from('  {"jsonrpc":"2.0"}')), 'application/json');
  assert.equal(sniffContentType(Buffer.from('event: message\ndata: {}\n\n')), 'text/event-stream');
  assert.equal(sniffContentType(Buffer.from('data: {}\n\n')), 'text/event-stream');
  assert.equal(sniffContentType(Buffer.from(': keep-alive\n\n')), 'text/event-stream');
  assert.equal(sniffContentType(Buffer.from('hello')), '', 'neither: the filter refuses it');
});

test('Struct metadata from Envoy decodes to plain JSON (camelCase and snake_case oneof names)', () => {
  const s = {
    fields: {
      sub: { kind: 'stringValue', stringValue: 'alice' },
      scope: { kind: 'listValue', listValue: { values: [{ kind: 'stringValue', stringValue: 'read' }] } },
      n: { kind: 'number_value', number_value: 3 },
      nested: { kind: 'structValue', structValue: { fields: { ok: { kind: 'boolValue', boolValue: true } } } },
    },
  };
  assert.deepEqual(structToJson(s), { sub: 'alice', scope: ['read'], n: 3, nested: { ok: true } });
});

describe('resource templates', () => {
  test('a template matches the URIs it can expand to, by operator', () => {
    const reaches = (template: string, uri: string) => templateMatcher(template)!.test(uri);
    assert.equal(reaches('file:///notes/{name}', 'file:///notes/a'), true);
    // A simple expansion percent-encodes '/', so it cannot reach a deeper path; a reserved one can.
    assert.equal(reaches('file:///notes/{name}', 'file:///notes/a/b'), false);
    assert.equal(reaches('file:///{+path}', 'file:///a/b/c'), true);
    assert.equal(reaches('db://t{/table,id}', 'db://t/users/7'), true);
    assert.equal(reaches('search://q{?term,page}', 'search://q?term=x&page=2'), true);
    assert.equal(reaches('search://q{?term}', 'search://other'), false);
    // Literal parts are literal, regex characters included.
    assert.equal(reaches('a.b://x+{y}', 'aXb://x+1'), false);
    assert.equal(templateMatcher('broken://{x'), undefined);
    assert.equal(templateReachesAny('file:///notes/{name}', new Set(['file:///other', 'file:///notes/z'])), true);
    assert.equal(templateReachesAny('broken://{x', new Set(['broken://{x'])), false);
  });

  test('a template from the server with many adjacent expressions costs a walk, not backtracking', () => {
    // As a regular expression this is 30 adjacent `.*` before a literal: a power of the URI's length to refuse.
    const template = `x://${'{+a}'.repeat(30)}!`;
    assert.equal(templateMatcher(template)!.test(`x://${'a'.repeat(5_000)}`), false);
    assert.equal(templateMatcher(template)!.test(`x://${'a'.repeat(5_000)}!`), true);
    assert.equal(templateMatcher(`x://${'{a}/'.repeat(20)}{b}`)!.test(`x://${'q/'.repeat(19)}q`), false);
    assert.equal(templateMatcher(`x://${'{a}/'.repeat(20)}{b}`)!.test(`x://${'q/'.repeat(20)}q`), true);
  });

  test('resources/templates/list keeps the templates that reach an allowed URI', () => {
    const body = {
      jsonrpc: '2.0',
      id: 1,
      result: {
        resourceTemplates: [
          { uriTemplate: 'file:///notes/{n}', name: 'notes' },
          { uriTemplate: 'file:///secrets/{n}' },
          { name: 'no template' },
        ],
      },
    };
    const out = JSON.parse(filterListBody(JSON.stringify(body), 'application/json', 'resourceTemplates', only(['file:///notes/a'])));
    assert.deepEqual(out.result.resourceTemplates, [{ uriTemplate: 'file:///notes/{n}', name: 'notes' }]);
    const all = JSON.parse(filterListBody(JSON.stringify(body), 'application/json', 'resourceTemplates', { all: true }));
    assert.equal(all.result.resourceTemplates.length, 3);
  });
});

describe('request bodies on servers with rules', () => {
  const listen = (uris: unknown) =>
    Buffer.from(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscriptions/listen', params: { notifications: { resourceSubscriptions: uris } } }),
    );
  const reader = { sub: 'x', scope: ['read'] };

  test('subscriptions/listen: every URI readable, or 403 naming the first that is not', () => {
    assert.deepEqual(listenVerdict(JSON.parse(listen(['file:///a']).toString()), RULES, reader), { ok: true });
    assert.deepEqual(listenVerdict(JSON.parse(listen(['file:///a', 'file:///b']).toString()), RULES, reader), {
      ok: false,
      uri: 'file:///b',
    });
    assert.deepEqual(listenVerdict(JSON.parse(listen([7]).toString()), RULES, reader), { ok: false, uri: '7' });
    assert.deepEqual(listenVerdict(JSON.parse(listen(['file:///b']).toString()), [{ name: 'all', resources: ['*'] }], {}), { ok: true });
    assert.deepEqual(listenVerdict(JSON.parse(listen(['file:///a']).toString()), RULES, undefined), { ok: false, uri: 'file:///a' });
    // No URIs, or not a listen: nothing to check here.
    assert.deepEqual(
      listenVerdict({ jsonrpc: '2.0', id: 1, method: 'subscriptions/listen', params: { notifications: {} } }, RULES, reader),
      { ok: true },
    );
    assert.deepEqual(listenVerdict({ jsonrpc: '2.0', id: 1, method: 'ping' }, RULES, reader), { ok: true });
    const refused = requestBodyCheck(listen(['file:///b']), 'search', RULES, reader) as Record<string, any>;
    assert.equal(refused['immediate_response'].status.code, 403);
    assert.equal(refused['immediate_response'].details, 'search:resource:listen:forbidden');
    assert.deepEqual(refused['dynamic_metadata'].fields.mcpmesh.structValue.fields.uri, { stringValue: 'file:///b' });
    assert.deepEqual(requestBodyCheck(listen(['file:///a']), 'search', RULES, reader), {
      request_body: { response: { status: 'CONTINUE' } },
    });
  });

  test('a JSON-RPC batch is refused with 400 whatever it holds', () => {
    const batch = requestBodyCheck(Buffer.from('[{"jsonrpc":"2.0","id":1,"method":"ping"}]'), 'search', RULES, reader) as Record<
      string,
      any
    >;
    assert.equal(batch['immediate_response'].status.code, 400);
    assert.deepEqual(requestBodyCheck(Buffer.from('not json')), { request_body: { response: { status: 'CONTINUE' } } });
  });
});
