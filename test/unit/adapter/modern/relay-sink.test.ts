// A multi round-trip call's sink: each round's answer goes to that round's
// exchange with that round's JSON-RPC id; between rounds nothing is lost or
// sent anywhere, and the call does not look abandoned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RelaySink } from '../../../../adapter/modern/relay-sink.js';
import type { CallSink } from '../../../../adapter/pool/call.js';
import type { FailureAnswer } from '../../../../adapter/protocol/failure-classes.js';

class Leg implements CallSink {
  readonly canStream = true;
  closed = false;
  readonly client = '127.0.0.1';
  readonly retried = false;
  events: string[] = [];
  finished: string | undefined;
  failed: [FailureAnswer, string] | undefined;
  abandoned = false;
  event(text: string): boolean {
    this.events.push(text);
    return true;
  }
  finish(text: string | readonly Uint8Array[]): void {
    this.finished = typeof text === 'string' ? text : Buffer.concat(text).toString('utf8');
  }
  fail(answer: FailureAnswer, idJson: string): void {
    this.failed = [answer, idJson];
  }
  abandon(): void {
    this.abandoned = true;
  }
}

test('rounds: input_required on the first exchange, the result on the retry with its own id', () => {
  const first = new Leg();
  const sink = new RelaySink(first, '1');
  assert.equal(sink.event('{"progress":1}'), true);
  sink.park((id) => `{"jsonrpc":"2.0","id":${id},"result":{"resultType":"input_required"}}`);
  assert.equal(first.finished, '{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}');
  assert.equal(sink.attached, false);
  assert.equal(sink.closed, false, 'waiting for the client is not the client gone');
  assert.equal(sink.event('{"progress":2}'), false, 'nothing to stream to between rounds');
  const retry = new Leg();
  sink.attach(retry, '"r-2"');
  sink.finish(['{"jsonrpc":"2.0","id":1,', '"result":{"content":[]}}'].map((s) => Buffer.from(s)));
  assert.equal(retry.finished, '{"jsonrpc":"2.0","id":"r-2","result":{"content":[]}}');
  assert.deepEqual(first.events, ['{"progress":1}']);
});

test('a failure or a cancel reaches the round that is attached, with its id; none when detached', () => {
  const first = new Leg();
  const sink = new RelaySink(first, '1');
  sink.park((id) => `{"id":${id}}`);
  const answer: FailureAnswer = { status: 503, retryable: false, code: -32603, message: 'crashed' };
  sink.fail(answer, '1');
  assert.equal(first.failed, undefined);
  const retry = new Leg();
  sink.attach(retry, '7');
  retry.closed = true;
  assert.equal(sink.closed, true, 'the retry’s client left');
  sink.fail(answer, '1');
  assert.deepEqual(retry.failed, [answer, '7']);
  const third = new Leg();
  sink.attach(third, '8');
  sink.abandon();
  assert.equal(third.abandoned, true);
});
