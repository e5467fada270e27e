// Reading a stdio server's initialize result: what it chose and who it is,
// or why the process cannot serve.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readInitializeResult } from '../../../adapter/protocol/initialize-result.js';
import type { RpcResponse } from '../../../adapter/protocol/jsonrpc-message.js';

const response = (result: unknown): RpcResponse => ({ kind: 'response', id: 1, result, error: undefined });

test('a 2025-era result gives the version and the identity', () => {
  const r = readInitializeResult(
    response({
      protocolVersion: '2025-06-18',
      capabilities: { tools: {} },
      serverInfo: { name: 's', version: '1' },
      instructions: 'be kind',
    }),
  );
  assert.deepEqual(r, {
    ok: true,
    protocolVersion: '2025-06-18',
    identity: { capabilities: { tools: {} }, serverInfo: { name: 's', version: '1' }, instructions: 'be kind' },
  });
  const bare = readInitializeResult(response({ protocolVersion: '2025-11-25', capabilities: {}, serverInfo: {}, instructions: 7 }));
  assert.equal(bare.ok && bare.identity.instructions, undefined, 'instructions that are not a string are left out');
});

test('each unusable result names its problem', () => {
  const problem = (res: RpcResponse) => {
    const r = readInitializeResult(res);
    return r.ok ? undefined : r.problem;
  };
  assert.equal(
    problem({ kind: 'response', id: 1, result: undefined, error: { code: -32603, message: 'boom' } }),
    'initialize failed: boom (code -32603)',
  );
  assert.equal(problem(response([])), 'initialize result is not an object');
  assert.match(
    problem(response({ protocolVersion: '2026-07-28', capabilities: {}, serverInfo: {} })) ?? '',
    /names protocol version "2026-07-28", which the adapter does not speak/,
  );
  assert.equal(
    problem(response({ protocolVersion: '2025-11-25', capabilities: {} })),
    'initialize result lacks capabilities or serverInfo',
  );
});
