import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkParamHeaders } from '../../../adapter/protocol/param-header-check.js';
import { paramHeaderForms, scanParamHeaders } from '../../../lib/mcp-param-headers.js';

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    n: { type: 'integer', 'x-mcp-header': 'N' },
    deep: { type: 'object', properties: { flag: { type: 'boolean', 'x-mcp-header': 'Flag' } } },
    other: { type: 'string' },
  },
};

describe('x-mcp-header declarations', () => {
  test('found through properties at any depth, with their types', () => {
    const scan = scanParamHeaders(schema);
    assert.equal(scan.kind, 'ok');
    assert.deepEqual(scan.kind === 'ok' ? scan.headers : [], [
      { name: 'Region', path: ['region'], type: 'string' },
      { name: 'N', path: ['n'], type: 'integer' },
      { name: 'Flag', path: ['deep', 'flag'], type: 'boolean' },
    ]);
    assert.deepEqual(scanParamHeaders({ type: 'object' }), { kind: 'ok', headers: [] });
    assert.deepEqual(scanParamHeaders(undefined), { kind: 'ok', headers: [] });
  });

  test('invalid where the spec says so: under items or anyOf, on a number or object, not a token, declared twice', () => {
    const bad = [
      { type: 'object', properties: { a: { type: 'array', items: { type: 'string', 'x-mcp-header': 'A' } } } },
      { anyOf: [{ type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'A' } } }] },
      { type: 'object', properties: { a: { type: 'number', 'x-mcp-header': 'A' } } },
      { type: 'object', properties: { a: { type: 'object', 'x-mcp-header': 'A' } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'has space' } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'A' }, b: { type: 'string', 'x-mcp-header': 'a' } } },
      { type: 'object', 'x-mcp-header': 'Root' },
    ];
    for (const s of bad) assert.equal(scanParamHeaders(s).kind, 'invalid', JSON.stringify(s));
  });

  test('header forms: plain values as they are and in Base64; other values only in Base64', () => {
    assert.deepEqual(paramHeaderForms('eu'), ['eu', '=?base64?ZXU=?=']);
    assert.deepEqual(paramHeaderForms(' eu'), ['=?base64?IGV1?=']);
    assert.deepEqual(paramHeaderForms('é'), ['=?base64?w6k=?=']);
  });
});

describe('the adapter check of Mcp-Param headers', () => {
  const scan = scanParamHeaders(schema);
  const decls = scan.kind === 'ok' ? scan.headers : [];
  const check = (args: unknown, headers: Record<string, string>) => checkParamHeaders(decls, args, headers);

  test('equal headers pass; integers compare as numbers, booleans as true/false, Base64 decoded', () => {
    assert.equal(
      check({ region: 'eu', n: 42, deep: { flag: true } }, { 'mcp-param-region': 'eu', 'mcp-param-n': '42.0', 'mcp-param-flag': 'true' }),
      undefined,
    );
    assert.equal(check({ region: 'é' }, { 'mcp-param-region': '=?base64?w6k=?=' }), undefined);
    // No body value: the header is not expected, and ignored when present.
    assert.equal(check({ region: null }, { 'mcp-param-region': 'whatever' }), undefined);
    assert.equal(check({}, {}), undefined);
  });

  test('missing, different or badly encoded: 400 with -32020', () => {
    for (const [args, headers] of [
      [{ region: 'eu' }, {}],
      [{ region: 'eu' }, { 'mcp-param-region': 'us' }],
      [{ region: 'eu' }, { 'mcp-param-region': '=?base64?!!?=' }],
      [{ n: 3 }, { 'mcp-param-n': '4' }],
      [{ deep: { flag: false } }, { 'mcp-param-flag': 'true' }],
    ] as const) {
      const r = check(args, headers);
      assert.equal(r?.status, 400, JSON.stringify(args));
      assert.equal(r?.code, -32020);
    }
  });
});
