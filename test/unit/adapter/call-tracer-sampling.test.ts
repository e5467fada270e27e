// Which calls the adapter traces, by the context they arrive with: the
// shortcut on the traceparent's flags must decide exactly as the full parse.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { type CallSpanInfo, CallTracer } from '../../../adapter/tracing.js';

const INFO: CallSpanInfo = {
  server: 's',
  method: 'tools/call',
  tool: 'echo',
  generation: '2026-07-28',
  attempt: 1,
  jsonrpcId: '1',
  agent: undefined,
};
const TRACE = 'ab'.repeat(16);
const PARENT = 'cd'.repeat(8);
// Where the spans go does not matter here: a sink that takes every export.
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const collector = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
const contextOnly = new CallTracer({ collector, sampling: 0, serviceName: 't' });
const everything = new CallTracer({ collector, sampling: 100, serviceName: 't' });
after(async () => {
  await Promise.all([contextOnly.shutdown(), everything.shutdown()]);
  sink.close();
});

function traced(tracer: CallTracer, traceparent: string | undefined, meta?: Record<string, unknown>): string | undefined {
  const span = tracer.start(traceparent === undefined ? {} : { traceparent }, meta, INFO);
  span?.end('ok', false);
  return span?.traceId;
}

test('a sampled header context is traced in its trace; every unsampled flags value is not', () => {
  assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-01`), TRACE);
  assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-03`), TRACE);
  assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-0b`), TRACE);
  for (const flags of ['00', '02', '0a', 'f0']) assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-${flags}`), undefined, flags);
  assert.equal(traced(contextOnly, undefined), undefined);
});

test('an invalid header is no parent: untraced without root sampling, a new trace with it', () => {
  // W3C flags are lowercase hex: an uppercase digit makes the header invalid, whatever its bit.
  const invalid = [`00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE}-${PARENT}-0g`, `00-${TRACE}-${PARENT}-0B`, `00-${TRACE}-${PARENT}-0E`];
  for (const bad of [...invalid, `00-${TRACE}-${PARENT}-00-extra`, 'garbage']) assert.equal(traced(contextOnly, bad), undefined, bad);
  const fresh = traced(everything, `00-${TRACE}-${PARENT}-0g`);
  assert.ok(fresh !== undefined && fresh !== TRACE, 'a new trace of its own');
});

test("a context of another shape than version 00's goes to the parser", () => {
  // A later version may append fields after the flags.
  assert.equal(traced(contextOnly, `01-${TRACE}-${PARENT}-01-ab`), TRACE);
  assert.equal(traced(contextOnly, `01-${TRACE}-${PARENT}-00-ab`), undefined);
});

test("an agent's sampled `_meta` context wins over Envoy's unsampled header in another trace", () => {
  const agentTrace = 'ef'.repeat(16);
  assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-00`, { traceparent: `00-${agentTrace}-${PARENT}-01` }), agentTrace);
  assert.equal(traced(contextOnly, `00-${TRACE}-${PARENT}-01`, { traceparent: `00-${agentTrace}-${PARENT}-00` }), undefined);
});

test('root sampling follows an unsampled parent and samples calls without one', () => {
  assert.equal(traced(everything, `00-${TRACE}-${PARENT}-00`), undefined);
  assert.ok(traced(everything, undefined) !== undefined);
});
