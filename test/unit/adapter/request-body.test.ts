// The request body a call carries: the spans of the depth check's walk used
// as they are (no second walk), the splice as text for a small body and as
// the body's own bytes for a large one (UTF-16 offsets made UTF-8 ones), and
// the byte scan's string check that large server lines go through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanJsonBytes, scanRequest } from '../../../adapter/protocol/json-scan.js';
import { LARGE_REQUEST_BYTES, requestBody, requestBodyOf, spliceRequest } from '../../../adapter/protocol/request-body.js';

function joined(out: string | Uint8Array[] | undefined): string {
  assert.ok(out !== undefined);
  return typeof out === 'string' ? out : Buffer.concat(out).toString('utf8');
}

test('the spans given are the ones used: the body is not walked again', () => {
  const text = '{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{"progressToken":"t"}}}';
  const spans = scanRequest(text).spans;
  assert.ok(spans !== undefined);
  // Spans pointing elsewhere show that the splice trusts what it was handed.
  const moved = { id: { key: 'id', start: 1, end: 10 }, progressToken: spans.progressToken, params: spans.params };
  assert.equal(
    joined(spliceRequest(requestBody(text, moved), '7', undefined)),
    `{7:"2.0","id":1,"method":"m","params":{"_meta":{"progressToken":"t"}}}`,
  );
  assert.deepEqual(JSON.parse(joined(spliceRequest(requestBody(text, spans), '7', '8'))), {
    jsonrpc: '2.0',
    id: 7,
    method: 'm',
    params: { _meta: { progressToken: 8 } },
  });
  assert.equal(spliceRequest(requestBody(text, undefined), '7', undefined), undefined);
});

test('a large body is written as its own bytes around the splices, whatever characters come before them', () => {
  const pad = 'é€😀"\\\u0001'.repeat(LARGE_REQUEST_BYTES / 8);
  const msg = { jsonrpc: '2.0', method: 'tools/call', params: { arguments: { pad }, _meta: { progressToken: 'ü' } }, id: 'ïd' };
  const text = JSON.stringify(msg);
  const bytes = Buffer.from(text);
  const body = requestBody(text, scanRequest(text).spans, bytes);
  assert.equal(body.bytes, bytes);
  const out = spliceRequest(body, '41', '42');
  assert.ok(Array.isArray(out));
  // The pieces are slices of the body's buffer, not copies.
  assert.equal(out[0]!.buffer, bytes.buffer);
  assert.deepEqual(JSON.parse(joined(out)), { ...msg, id: 41, params: { ...msg.params, _meta: { progressToken: 42 } } });
  // A small body is spliced as text and keeps no bytes.
  const small = requestBody('{"id":1}', scanRequest('{"id":1}').spans, Buffer.from('{"id":1}'));
  assert.equal(small.bytes, undefined);
  assert.equal(spliceRequest(small, '2', undefined), '{"id":2}');
});

test('a pretty-printed body becomes one line, as text and as bytes, with the same spans', () => {
  const pad = 'x'.repeat(LARGE_REQUEST_BYTES);
  const text = `{\r\n  "jsonrpc": "2.0",\r\n  "id": 5,\n  "method": "m",\n  "params": {"p": "${pad}", "_meta": {"progressToken": 1}}\r\n}`;
  const received = Buffer.from(text);
  const body = requestBody(text, scanRequest(text).spans, received);
  assert.ok(!/[\r\n]/.test(body.text));
  assert.ok(body.bytes !== undefined && body.bytes !== received && received.includes('\r\n'));
  const line = joined(spliceRequest(body, '9', '10'));
  assert.ok(!/[\r\n]/.test(line));
  assert.deepEqual(JSON.parse(line), { jsonrpc: '2.0', id: 9, method: 'm', params: { p: pad, _meta: { progressToken: 10 } } });
  assert.equal(joined(spliceRequest(requestBodyOf(text), '9', undefined)).includes('"id": 9'), true);
});

test('the byte scan checks string escapes and control characters as JSON.parse does', () => {
  const cases = [
    '\\"',
    '\\\\',
    '\\/',
    '\\b\\f\\n\\r\\t',
    '\\u00e9\\uD83D\\ude00',
    '\\"'.repeat(1000),
    'plain',
    '\\x',
    '\\u12',
    '\\u12G4',
    '\\uabc',
    '\u0001',
    '\u001f',
    '\\',
    'tab\there',
  ];
  for (const inner of cases) {
    const text = `{"a":"${inner}","b":1}`;
    let ok = true;
    try {
      JSON.parse(text);
    } catch {
      ok = false;
    }
    assert.equal(scanJsonBytes(Buffer.from(text)) !== undefined, ok, JSON.stringify(inner));
  }
  // A \u escape cut off by the end of the line.
  assert.equal(scanJsonBytes(Buffer.from('{"a":"\\u00')), undefined);
});
