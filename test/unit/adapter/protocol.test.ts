import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RpcResponse, readMessage } from '../../../adapter/protocol/jsonrpc-message.js';
import { checkStandardHeaders, decodeHeaderValue } from '../../../adapter/protocol/mcp-headers.js';
import { readEnvelope } from '../../../adapter/protocol/modern-envelope.js';
import { discoverResult, toModernResponse } from '../../../adapter/protocol/modern-results.js';

const V = '2026-07-28';
const ok = { protocolVersion: V, method: 'tools/call', name: 'echo' };

describe('2026-07-28 standard headers', () => {
  test('agreeing headers pass', () => {
    assert.equal(checkStandardHeaders('request', 'tools/call', { name: 'echo' }, V, ok), undefined);
    assert.equal(
      checkStandardHeaders('request', 'tools/list', {}, V, { protocolVersion: V, method: 'tools/list', name: undefined }),
      undefined,
    );
  });

  test('each disagreement or missing header is HeaderMismatch -32020 on HTTP 400', () => {
    const cases: Array<[Parameters<typeof checkStandardHeaders>, RegExp]> = [
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, method: 'tools/list' }], /Mcp-Method header names tools\/list/],
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, name: 'other' }], /Mcp-Name header names "other"/],
      [
        ['request', 'tools/call', { name: 'echo' }, V, { ...ok, protocolVersion: '2025-11-25' }],
        /MCP-Protocol-Version header names 2025-11-25/,
      ],
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, protocolVersion: undefined }], /MCP-Protocol-Version header is absent/],
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, method: undefined }], /Mcp-Method header is absent/],
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, name: undefined }], /Mcp-Name header is absent/],
      [
        ['request', 'resources/read', { uri: 'file:///a' }, V, { protocolVersion: V, method: 'resources/read', name: 'file:///b' }],
        /params.uri="file:\/\/\/a"/,
      ],
      [['request', 'tools/call', { name: 'echo' }, V, { ...ok, name: '=?base64?!!!?=' }], /invalid Base64/],
    ];
    for (const [args, message] of cases) {
      const r = checkStandardHeaders(...args);
      assert.ok(r, JSON.stringify(args));
      assert.equal(r.status, 400);
      assert.equal(r.code, -32020);
      assert.match(r.message, message);
    }
  });

  test('notifications need no headers but may not contradict the body', () => {
    assert.equal(
      checkStandardHeaders('notification', 'notifications/cancelled', {}, V, {
        protocolVersion: undefined,
        method: undefined,
        name: undefined,
      }),
      undefined,
    );
    assert.equal(
      checkStandardHeaders('notification', 'notifications/cancelled', {}, V, { protocolVersion: V, method: 'tools/call', name: undefined })
        ?.code,
      -32020,
    );
  });

  test('Base64 sentinel values decode; malformed ones do not', () => {
    const encoded = `=?base64?${Buffer.from('café ☕').toString('base64')}?=`;
    assert.equal(decodeHeaderValue(encoded), 'café ☕');
    assert.equal(checkStandardHeaders('request', 'tools/call', { name: 'café ☕' }, V, { ...ok, name: encoded }), undefined);
    assert.equal(decodeHeaderValue('plain'), 'plain');
    assert.equal(decodeHeaderValue('=?base64?YQ?='), undefined);
    assert.equal(decodeHeaderValue(`=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=`), undefined);
  });
});

describe('2026-07-28 envelope', () => {
  const meta = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} };
  test('reads modern, legacy and absent claims', () => {
    assert.deepEqual(readEnvelope({ _meta: meta }), { kind: 'modern', version: V, logLevel: undefined });
    assert.deepEqual(readEnvelope({ _meta: { ...meta, 'io.modelcontextprotocol/logLevel': 'info' } }), {
      kind: 'modern',
      version: V,
      logLevel: 'info',
    });
    assert.deepEqual(readEnvelope({ _meta: { 'io.modelcontextprotocol/protocolVersion': '2025-06-18' } }), { kind: 'legacy' });
    assert.deepEqual(readEnvelope({ _meta: { progressToken: 1 } }), { kind: 'none' });
    assert.deepEqual(readEnvelope(undefined), { kind: 'none' });
  });

  test('rejects bad envelopes the way the 2026 SDK does', () => {
    const unsupported = readEnvelope({ _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } });
    assert.deepEqual(unsupported, {
      kind: 'rejected',
      code: -32022,
      message: 'Unsupported protocol version: 2027-01-01',
      data: { supported: [V], requested: '2027-01-01' },
    });
    const missing = readEnvelope({ _meta: { 'io.modelcontextprotocol/protocolVersion': V } });
    assert.equal(missing.kind === 'rejected' && missing.code, -32602);
    assert.match(missing.kind === 'rejected' ? missing.message : '', /clientCapabilities: missing/);
    assert.equal(readEnvelope({ _meta: { ...meta, 'io.modelcontextprotocol/logLevel': 'loud' } }).kind, 'rejected');
    assert.equal(readEnvelope({ _meta: { 'io.modelcontextprotocol/protocolVersion': 7 } }).kind, 'rejected');
  });
});

function response(line: string): RpcResponse {
  const m = readMessage(JSON.parse(line));
  assert.equal(m.kind, 'response');
  return m as RpcResponse;
}

describe('toModernResponse', () => {
  test('stamps resultType into a TypeScript-ordered line without re-serialising it', () => {
    const line = '{"result":{"content":[{"type":"text","text":"hi"}],"big":12345678901234567890},"jsonrpc":"2.0","id":4}';
    const out = toModernResponse(line, response(line), 'tools/call', '4', 'c1', '"c1"');
    assert.equal(
      out,
      '{"result":{"resultType":"complete","content":[{"type":"text","text":"hi"}],"big":12345678901234567890},"jsonrpc":"2.0","id":"c1"}',
    );
  });

  test('adds cache fields to cacheable results, also for Python-ordered and empty results', () => {
    const line = '{"jsonrpc":"2.0","id":9,"result":{}}';
    const out = toModernResponse(line, response(line), 'tools/list', '9', 1, '1');
    assert.deepEqual(JSON.parse(out), { jsonrpc: '2.0', id: 1, result: { resultType: 'complete', ttlMs: 0, cacheScope: 'private' } });
  });

  test('keeps what the server already stamped and repairs invalid cache fields', () => {
    const own = '{"result":{"resultType":"complete","ttlMs":500,"cacheScope":"public","tools":[]},"jsonrpc":"2.0","id":1}';
    assert.deepEqual(JSON.parse(toModernResponse(own, response(own), 'tools/list', '1', 2, '2')).result, {
      resultType: 'complete',
      ttlMs: 500,
      cacheScope: 'public',
      tools: [],
    });
    const bad = '{"result":{"ttlMs":-1,"tools":[]},"jsonrpc":"2.0","id":1}';
    assert.deepEqual(JSON.parse(toModernResponse(bad, response(bad), 'tools/list', '1', 2, '2')).result, {
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      tools: [],
    });
  });

  test('renames the 2025 resource-not-found code and passes other errors through', () => {
    const nf = '{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"Resource not found"}}';
    assert.deepEqual(JSON.parse(toModernResponse(nf, response(nf), 'resources/read', '1', 5, '5')), {
      jsonrpc: '2.0',
      id: 5,
      error: { code: -32602, message: 'Resource not found' },
    });
    const other = '{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}';
    assert.equal(
      toModernResponse(other, response(other), 'tools/call', '1', 5, '5'),
      '{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"Method not found"}}',
    );
  });

  test('server/discover answers from the initialize result, without 2025-only tasks', () => {
    const r = discoverResult({
      capabilities: { tools: { listChanged: true }, tasks: { list: {} } },
      serverInfo: { name: 's', version: '1' },
      instructions: 'use me',
    });
    assert.deepEqual(r, {
      resultType: 'complete',
      supportedVersions: [V],
      capabilities: { tools: { listChanged: true } },
      instructions: 'use me',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 's', version: '1' } },
    });
  });
});
