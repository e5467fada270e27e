// The multi round-trip bridge with a fake process and fake HTTP legs: which
// server requests it takes, what the first leg gets, how a retry answers the
// server, and what an abandoned hold does to the server and the call.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { pino } from 'pino';
import { MrtrBridge } from '../../../../adapter/modern/mrtr-bridge.js';
import { MrtrStateCodec } from '../../../../adapter/modern/mrtr-state-codec.js';
import { Call, type CallSink } from '../../../../adapter/pool/call.js';
import type { McpWorker } from '../../../../adapter/pool/mcp-worker.js';
import type { FailureAnswer } from '../../../../adapter/protocol/failure-classes.js';
import type { RpcRequest } from '../../../../adapter/protocol/jsonrpc-message.js';
import { requestBodyOf } from '../../../../adapter/protocol/request-body.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';

class Leg implements CallSink {
  readonly canStream = false;
  readonly closed = false;
  finished: string | undefined;
  failed: FailureAnswer | undefined;
  abandoned = false;
  event(): boolean {
    return false;
  }
  finish(text: string | readonly Uint8Array[]): void {
    this.finished = String(text);
  }
  fail(answer: FailureAnswer): void {
    this.failed = answer;
  }
  abandon(): void {
    this.abandoned = true;
  }
}

class FakeProcess {
  readonly slot = 0;
  readonly sent: string[] = [];
  readonly cancelled: string[] = [];
  readonly calls = new Map<number, Call>();
  send(text: string): boolean {
    this.sent.push(text);
    return true;
  }
  release(call: Call): boolean {
    return this.calls.delete(call.localId);
  }
  cancel(_call: Call, reason: string): void {
    this.cancelled.push(reason);
  }
}

/** A fake response that records what the bridge writes on it. */
function fakeResponse(): ServerResponse & { written: string } {
  const res = {
    headersSent: false,
    destroyed: false,
    written: '',
    writeHead() {
      res.headersSent = true;
      return res;
    },
    end(body: string) {
      res.written = body;
    },
  };
  return res as unknown as ServerResponse & { written: string };
}

const counts: Record<string, number> = {};
const count = (k: string) => () => {
  counts[k] = (counts[k] ?? 0) + 1;
};

function setup(holdTimeoutMs = 10_000, maxHolds = 10) {
  const ring = new KeyRing([new SessionKey('k1', randomBytes(32), 0, undefined)]);
  const bridge = new MrtrBridge(
    { holdTimeoutMs, maxHolds, forwardConnectTimeoutMs: 1_000, forward: true },
    {
      codec: new MrtrStateCodec({ server: 'fixture', keys: () => ring }),
      replicaId: 'r1',
      selfUrl: () => 'http://127.0.0.1:1/mcp',
      metrics: {
        inputRequired: count('rounds'),
        answered: count('answered'),
        abandoned: count('abandoned'),
        refused: (reason) => count(`refused:${reason}`)(),
        forwarded: count('forwarded'),
        listenOpened: () => undefined,
        listenDelivered: () => undefined,
      },
      logger: pino({ level: 'silent' }),
    },
  );
  const proc = new FakeProcess();
  const settled: string[] = [];
  const start = (caps: Record<string, unknown>) => {
    const first = new Leg();
    const params = {
      name: 'elicit',
      arguments: { question: 'q' },
      _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': caps },
    };
    const call = new Call(
      {
        clientId: 1,
        clientIdJson: '1',
        method: 'tools/call',
        tool: 'elicit',
        params,
        body: requestBodyOf(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params })),
        era: 'modern',
        session: undefined,
        placement: 'solo',
        logLevel: undefined,
        sink: MrtrBridge.sinkFor(first, '1'),
      },
      {
        settled: (c, outcome) => {
          settled.push(outcome);
          bridge.callSettled(c);
        },
        replaySafe: () => false,
      },
      undefined,
    );
    call.writeTo(proc, 1);
    proc.calls.set(1, call);
    return { call, first, params };
  };
  const ask = (call: Call, id: number): boolean =>
    bridge.serverAsked(call, proc as unknown as McpWorker, String(id), {
      kind: 'request',
      id,
      method: 'elicitation/create',
      params: { mode: 'form', message: 'name?', requestedSchema: { type: 'object', properties: {} } },
    } as RpcRequest);
  return { bridge, proc, settled, start, ask };
}

test('a client that declared elicitation gets input_required with the server request; one that did not, nothing', () => {
  const { bridge, start, ask } = setup();
  const plain = start({});
  assert.equal(ask(plain.call, 5), false, 'refused to the server as before');
  plain.call.cancel('done');
  const { call, first } = start({ elicitation: {} });
  assert.equal(ask(call, 6), true);
  const body = JSON.parse(first.finished!) as { id: number; result: Record<string, any> };
  assert.equal(body.id, 1);
  assert.equal(body.result['resultType'], 'input_required');
  assert.deepEqual(body.result['inputRequests'], {
    'input-1': {
      method: 'elicitation/create',
      params: { mode: 'form', message: 'name?', requestedSchema: { type: 'object', properties: {} } },
    },
  });
  assert.equal(typeof body.result['requestState'], 'string');
  assert.equal(bridge.holds, 1);
});

test('the retry answers the server with its own id, and the result goes to the retry with the retry id', () => {
  const { bridge, proc, start, ask } = setup();
  const { call, first, params } = start({ elicitation: {} });
  ask(call, 6);
  const state = (JSON.parse(first.finished!) as { result: { requestState: string } }).result.requestState;
  const retry = new Leg();
  const res = fakeResponse();
  const msg = {
    kind: 'request',
    id: 'retry-1',
    method: 'tools/call',
    params: { ...params, inputResponses: { 'input-1': { action: 'accept', content: { a: 1 } } }, requestState: state },
  } as RpcRequest;
  bridge.retry({ headers: {} } as IncomingMessage, res, msg, JSON.stringify(msg), () => retry);
  assert.deepEqual(JSON.parse(proc.sent.at(-1)!), { jsonrpc: '2.0', id: 6, result: { action: 'accept', content: { a: 1 } } });
  assert.equal(bridge.holds, 0);
  call.respond('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}', { kind: 'response', id: 1, result: { content: [] }, error: undefined });
  assert.deepEqual(JSON.parse(retry.finished!), { jsonrpc: '2.0', id: 'retry-1', result: { content: [], resultType: 'complete' } });
  // The same state again: a replay.
  const again = fakeResponse();
  bridge.retry({ headers: {} } as IncomingMessage, again, msg, JSON.stringify(msg), () => new Leg());
  assert.match(again.written, /requestState was used already/);
});

test('an abandoned hold: the server gets an error, the call is cancelled, it is counted; beyond maxHolds the server is refused', async () => {
  const { bridge, proc, settled, start, ask } = setup(50, 1);
  const before = counts['abandoned'] ?? 0;
  const { call } = start({ elicitation: {} });
  ask(call, 7);
  const other = start({ elicitation: {} });
  assert.equal(ask(other.call, 8), false, 'maxHolds reached');
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(bridge.holds, 0);
  assert.equal((counts['abandoned'] ?? 0) - before, 1);
  const error = JSON.parse(proc.sent.at(-1)!) as { id: number; error: { code: number; message: string } };
  assert.equal(error.id, 7);
  assert.match(error.error.message, /did not answer elicitation\/create within 50 ms/);
  assert.match(proc.cancelled.at(-1)!, /did not retry within 50 ms/);
  assert.deepEqual(settled, ['cancelled']);
});
