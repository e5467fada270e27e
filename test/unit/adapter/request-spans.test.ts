// The one-pass scan that finds a request's id and progress token: the members
// JSON.parse reads (the last of duplicates, escaped keys decoded), whatever
// else the text holds, and the params span the query-of-death fingerprint
// reads; and the string skip on text dense with escaped quotes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { findMember, keyIs, requestSpans, scanRequest, skipString, valueStart } from '../../../adapter/protocol/json-scan.js';
import { requestBodyOf, spliceRequest } from '../../../adapter/protocol/request-body.js';

function spliced(text: string): unknown {
  const out = spliceRequest(requestBodyOf(text), '42', '77');
  assert.ok(typeof out === 'string', text);
  return JSON.parse(out);
}

test('the last of duplicate members, as JSON.parse reads them', () => {
  const text =
    '{"id":1,"params":{"_meta":{"progressToken":"a"}},"jsonrpc":"2.0","method":"m","params":{"_meta":{"progressToken":"b","progressToken":"c"},"x":{"progressToken":9}},"id":2}';
  const parsed = JSON.parse(text) as { params: { _meta: Record<string, unknown> } };
  assert.deepEqual(spliced(text), { ...parsed, id: 42, params: { ...parsed.params, _meta: { progressToken: 77 } } });
  // A later params without _meta drops the earlier one's token.
  assert.equal(requestSpans('{"id":1,"params":{"_meta":{"progressToken":1}},"params":{}}')?.progressToken, undefined);
  assert.equal(requestSpans('{"id":1,"params":{"_meta":{"progressToken":1},"_meta":{}}}')?.progressToken, undefined);
  assert.equal(requestSpans('{"id":1,"params":{"_meta":{"progressToken":1}},"params":[1]}')?.progressToken, undefined);
});

test('escaped keys are the keys they decode to; nested look-alikes are not the members', () => {
  const text =
    '{"\\u0069d":5,"params":{"arguments":{"id":3,"_meta":{"progressToken":0}},"_m\\u0065ta":{"progressTok\\u0065n":"t"}},"method":"m"}';
  const s = requestSpans(text);
  assert.equal(text.slice(s!.id!.start, s!.id!.end), '5');
  assert.equal(text.slice(s!.progressToken!.start, s!.progressToken!.end), '"t"');
  assert.deepEqual((spliced(text) as { params: { arguments: unknown } }).params.arguments, { id: 3, _meta: { progressToken: 0 } });
  assert.equal(keyIs('"\\u0069d"', 0, 9, 'id'), true);
  assert.equal(keyIs('"idx"', 0, 5, 'id'), false);
  assert.equal(keyIs('"i\\\\d"', 0, 6, 'id'), false);
});

test('a request without either member is not spliced; text that is not one object is undefined', () => {
  assert.equal(spliceRequest(requestBodyOf('{"id":1,"params":{}}'), '2', '3'), undefined);
  assert.equal(spliceRequest(requestBodyOf('{"params":{"_meta":{"progressToken":1}}}'), '2', undefined), undefined);
  assert.equal(requestSpans('[1]'), undefined);
  assert.equal(requestSpans('{"id":1'), undefined);
});

test('strings dense with escaped quotes and backslashes are skipped exactly', () => {
  for (const inner of ['', '\\\\', '\\"', '\\\\\\"', 'a\\"b\\\\', '\\"'.repeat(1000), `${'\\\\'.repeat(3)}x`, `x${'\\"'.repeat(5)}\\\\`]) {
    const text = `"${inner}",1`;
    assert.equal(JSON.parse(text.slice(0, skipString(text, 0))), JSON.parse(`"${inner}"`));
    assert.equal(skipString(text, 0), inner.length + 2, inner);
  }
  assert.equal(skipString('"\\"never closed', 0), -1);
  const big = `{"jsonrpc":"2.0","id":1,"method":"m","params":{"text":"${'\\"'.repeat(100_000)}","_meta":{"progressToken":1}}}`;
  assert.equal((spliced(big) as { params: { text: string } }).params.text.length, 100_000);
});

test('the one-pass scan: container and spaced values, the depth bound, text that is not one object', () => {
  const text = '{ "id" : [1,{"id":2}] , "params" : { "_meta" : { "progressToken" : {"a":[1]} , "k":{"progressToken":1} } } }';
  const s = scanRequest(text, 5).spans;
  assert.equal(text.slice(s!.id!.start, s!.id!.end), '[1,{"id":2}]');
  assert.equal(text.slice(s!.progressToken!.start, s!.progressToken!.end), '{"a":[1]}');
  assert.deepEqual(scanRequest(text, 4), { tooDeep: true, spans: undefined });
  assert.deepEqual(scanRequest('{"a":[[]]}', 8, 2), { tooDeep: true, spans: undefined });
  assert.equal(scanRequest('{"id":-1.5e3,"params":{"_meta":{"progressToken":true}}}').spans?.id?.end, 12);
  // A _meta outside params, or params nested elsewhere, is not the path.
  assert.equal(scanRequest('{"_meta":{"progressToken":1},"x":{"params":{"_meta":{"progressToken":1}}}}').spans?.progressToken, undefined);
  assert.equal(scanRequest('"x"').spans, undefined);
  assert.equal(scanRequest('{"id":"never closed').spans, undefined);
  assert.deepEqual(scanRequest('{"a":[1,{"b":2}'), { tooDeep: false, spans: undefined });
  assert.deepEqual(scanRequest('{"a":[1,{"b":2}]', 3), { tooDeep: false, spans: undefined });
});

test('the walk finds params as the member lookup does: the last of duplicates, any value, whitespace around it', () => {
  const texts = [
    '{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":[1,{"b":2}],"_meta":{"progressToken":"t"}}}',
    '{ "params" : { "x" : "}" } , "id" : 1 }',
    '{"params":{"a":1},"id":1,"params":[1,2,{"c":3}]}',
    '{"params":[1],"params":{"later":true}}',
    '{"params":"text","id":1}',
    '{"params":12.5e3,"id":1}',
    '{"params":null}',
    '{"id":1,"method":"m"}',
    '{"p\\u0061rams":{"escaped":"key"},"id":1}',
  ];
  for (const t of texts) {
    const walked = scanRequest(t).spans?.params;
    const looked = findMember(t, valueStart(t), 'params');
    assert.deepEqual(
      walked === undefined ? undefined : t.slice(walked.start, walked.end),
      looked === undefined ? undefined : t.slice(looked.start, looked.end),
      t,
    );
  }
});

test('property: the walk finds the params text the member lookup finds', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (params, other, pretty) => {
      const text = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'm', params, other }, null, pretty ? 2 : undefined);
      const walked = scanRequest(text).spans?.params;
      const looked = findMember(text, valueStart(text), 'params');
      assert.equal(
        walked === undefined ? undefined : text.slice(walked.start, walked.end),
        looked === undefined ? undefined : text.slice(looked.start, looked.end),
      );
    }),
    { numRuns: 300 },
  );
});
