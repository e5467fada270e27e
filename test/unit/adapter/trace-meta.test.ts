import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setMetaMembers } from '../../../adapter/protocol/trace-meta.js';

const TP = JSON.stringify('00-0123456789abcdef0123456789abcdef-0123456789abcdef-01');

function meta(text: string): Record<string, unknown> {
  return (JSON.parse(text) as { params: { _meta: Record<string, unknown> } }).params._meta;
}

test('params._meta members are set in place, keeping every other byte', () => {
  const body =
    '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"n","arguments":{"big":12345678901234567890},"_meta":{"progressToken":"p","traceparent":"old"}}}';
  const out = setMetaMembers(body, [
    ['traceparent', TP],
    ['baggage', '"a=1"'],
  ])!;
  assert.deepEqual(meta(out), { baggage: 'a=1', progressToken: 'p', traceparent: JSON.parse(TP) });
  assert.ok(out.includes('"big":12345678901234567890'), 'numbers are not re-serialised');
});

test('_meta and params are created when absent', () => {
  assert.deepEqual(meta(setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"ping"}', [['traceparent', TP]])!), {
    traceparent: JSON.parse(TP),
  });
  assert.deepEqual(meta(setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}', [['traceparent', TP]])!), {
    traceparent: JSON.parse(TP),
  });
  assert.deepEqual(meta(setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"x","params":{"cursor":"c"}}', [['traceparent', TP]])!), {
    traceparent: JSON.parse(TP),
  });
  assert.deepEqual(meta(setMetaMembers('{"params" : { "_meta" : { } }, "jsonrpc":"2.0","id":1,"method":"x"}', [['traceparent', TP]])!), {
    traceparent: JSON.parse(TP),
  });
});

test('duplicate keys: every occurrence is replaced (JSON.parse keeps the last)', () => {
  const out = setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"a","traceparent":"b"}}}', [
    ['traceparent', TP],
  ])!;
  assert.equal(meta(out)['traceparent'], JSON.parse(TP));
  assert.ok(!out.includes('"a"') && !out.includes('"b"'));
});

test('params or _meta that are not objects: left to the caller', () => {
  assert.equal(setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}', [['traceparent', TP]]), undefined);
  assert.equal(setMetaMembers('{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":null}}', [['traceparent', TP]]), undefined);
});
