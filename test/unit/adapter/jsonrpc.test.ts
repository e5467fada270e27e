import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdAllocator, oneLine, replaceTopLevelId, resultObjectStart } from '../../../adapter/protocol/jsonrpc-ids.js';
import { readMessage } from '../../../adapter/protocol/jsonrpc-message.js';

describe('replaceTopLevelId', () => {
  test('rewrites the id a TypeScript SDK writes last, leaving every other byte as it was', () => {
    const line = '{"result":{"content":[{"type":"text","text":"x"}],"n":12345678901234567890},"jsonrpc":"2.0","id":7}';
    assert.equal(
      replaceTopLevelId(line, '7', '"client-1"'),
      '{"result":{"content":[{"type":"text","text":"x"}],"n":12345678901234567890},"jsonrpc":"2.0","id":"client-1"}',
    );
  });

  test('rewrites the id a Python-style writer puts first', () => {
    assert.equal(replaceTopLevelId('{"jsonrpc":"2.0","id":3,"result":{}}', '3', '42'), '{"jsonrpc":"2.0","id":42,"result":{}}');
  });

  test('skips a nested "id" with the same value and rewrites the top-level one', () => {
    const line = '{"jsonrpc":"2.0","result":{"item":{"id":5}},"id":5,"x":1}';
    assert.equal(replaceTopLevelId(line, '5', '9'), '{"jsonrpc":"2.0","result":{"item":{"id":5}},"id":9,"x":1}');
  });

  test('ignores "id":N inside strings', () => {
    const line = '{"jsonrpc":"2.0","result":{"text":"\\"id\\":5 and \\"id\\":5"},"id":5,"z":0}';
    assert.equal(replaceTopLevelId(line, '5', '6'), '{"jsonrpc":"2.0","result":{"text":"\\"id\\":5 and \\"id\\":5"},"id":6,"z":0}');
  });

  test('does not take id 12 for id 1', () => {
    assert.equal(
      replaceTopLevelId('{"jsonrpc":"2.0","result":{"id":12},"id":1,"q":0}', '1', '2'),
      '{"jsonrpc":"2.0","result":{"id":12},"id":2,"q":0}',
    );
  });

  test('rewrites string ids', () => {
    assert.equal(replaceTopLevelId('{"method":"x","jsonrpc":"2.0","id":"abc"}', '"abc"', '11'), '{"method":"x","jsonrpc":"2.0","id":11}');
  });

  test('finds the top-level id in any layout, and gives up (undefined) only without one', () => {
    assert.equal(replaceTopLevelId('{"jsonrpc": "2.0", "id": 3, "result": {}}', '3', '4'), '{"jsonrpc": "2.0", "id": 4, "result": {}}');
    assert.equal(replaceTopLevelId('{"jsonrpc":"2.0","id":3.0,"result":{}}', '3', '4'), '{"jsonrpc":"2.0","id":4,"result":{}}');
    assert.equal(replaceTopLevelId('{"jsonrpc":"2.0","result":{"id":3}}', '3', '4'), undefined);
  });
});

test('resultObjectStart finds the result object of both writer orders and nothing else', () => {
  assert.equal(resultObjectStart('{"result":{"a":1},"jsonrpc":"2.0","id":1}', '1'), 10);
  const py = '{"jsonrpc":"2.0","id":4,"result":{"a":1}}';
  assert.equal(py[resultObjectStart(py, '4')], '{');
  assert.equal(resultObjectStart('{"id":4,"result":{}}', '4'), -1);
  assert.equal(resultObjectStart('{"result":[1]}', '4'), -1);
});

test('IdAllocator hands out increasing positive ids', () => {
  const ids = new IdAllocator();
  assert.deepEqual([ids.next(), ids.next(), ids.next()], [1, 2, 3]);
});

test('oneLine turns pretty-printed JSON into one line without touching strings', () => {
  const pretty = '{\n  "jsonrpc": "2.0",\r\n  "text": "a\\nb"\n}';
  const flat = oneLine(pretty);
  assert.ok(!flat.includes('\n') && !flat.includes('\r'));
  assert.deepEqual(JSON.parse(flat), JSON.parse(pretty));
  const plain = '{"a":1}';
  assert.equal(oneLine(plain), plain);
});

describe('readMessage', () => {
  test('classifies requests, notifications and responses', () => {
    assert.deepEqual(readMessage({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), {
      kind: 'request',
      id: 1,
      method: 'tools/list',
      params: undefined,
    });
    assert.deepEqual(readMessage({ jsonrpc: '2.0', method: 'notifications/initialized' }), {
      kind: 'notification',
      method: 'notifications/initialized',
      params: undefined,
    });
    assert.deepEqual(readMessage({ jsonrpc: '2.0', id: 'a', result: { x: 1 } }), {
      kind: 'response',
      id: 'a',
      result: { x: 1 },
      error: undefined,
    });
    const err = readMessage({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    assert.equal(err.kind, 'response');
    assert.deepEqual(err.kind === 'response' ? err.error : undefined, { code: -32700, message: 'Parse error' });
  });

  test('names what is wrong with invalid messages, keeping a readable id', () => {
    const cases: Array<[unknown, RegExp, unknown]> = [
      [[{ jsonrpc: '2.0', id: 1, method: 'x' }], /batches are not supported/, null],
      ['text', /must be an object/, null],
      [{ id: 1, method: 'x' }, /jsonrpc must be "2.0"/, 1],
      [{ jsonrpc: '2.0', id: 1, method: '' }, /non-empty string/, 1],
      [{ jsonrpc: '2.0', id: 2, method: 'x', params: [1] }, /params must be an object/, 2],
      [{ jsonrpc: '2.0', id: null, method: 'x' }, /id must be a string or a number/, null],
      [{ jsonrpc: '2.0', id: { a: 1 }, method: 'x' }, /id must be a string or a number/, null],
      [{ jsonrpc: '2.0', id: 3 }, /exactly one of result and error/, 3],
      [{ jsonrpc: '2.0', id: 3, result: 1, error: { code: 1, message: 'm' } }, /exactly one of result and error/, 3],
      [{ jsonrpc: '2.0', id: 3, error: { code: 1.5, message: 'm' } }, /integer code/, 3],
    ];
    for (const [value, reason, id] of cases) {
      const m = readMessage(value);
      assert.equal(m.kind, 'invalid', JSON.stringify(value));
      if (m.kind === 'invalid') {
        assert.match(m.reason, reason);
        assert.equal(m.id, id);
      }
    }
  });
});
