import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerFor, responseOutcome } from '../../../adapter/protocol/failure-classes.js';
import { RETRYABLE_HEADER } from '../../../lib/mesh-contracts.js';

test('the retryable contract: 503 + marker only where sending again cannot run the call twice', () => {
  assert.equal(RETRYABLE_HEADER, 'x-mcpmesh-retryable');
  const overload = answerFor({ kind: 'overload', detail: 'queue full', written: false }, false);
  assert.deepEqual([overload.status, overload.retryable], [503, true]);
  const unavailable = answerFor({ kind: 'unavailable', detail: 'no process', written: false }, false);
  assert.deepEqual([unavailable.status, unavailable.retryable], [503, true]);
  const crashedSafe = answerFor({ kind: 'crashed', detail: 'exit 1', written: true }, true);
  assert.deepEqual([crashedSafe.status, crashedSafe.retryable], [503, true]);
  const crashedUnsafe = answerFor({ kind: 'crashed', detail: 'exit 1', written: true }, false);
  assert.deepEqual([crashedUnsafe.status, crashedUnsafe.retryable], [503, false]);
  const crashedUnwritten = answerFor({ kind: 'crashed', detail: 'exit 1', written: false }, false);
  assert.equal(crashedUnwritten.retryable, true);
  const timeout = answerFor({ kind: 'timeout', detail: '5 s', written: true }, true);
  assert.deepEqual([timeout.status, timeout.retryable], [504, false]);
  assert.match(crashedSafe.message, /exit 1/);
});

test('server answers are classified as ok, tool error or JSON-RPC error', () => {
  assert.equal(responseOutcome('tools/call', { content: [] }, false), 'ok');
  assert.equal(responseOutcome('tools/call', { content: [], isError: true }, false), 'tool_error');
  assert.equal(responseOutcome('tools/list', { isError: true }, false), 'ok');
  assert.equal(responseOutcome('tools/call', undefined, true), 'jsonrpc_error');
});
