// subscriptions/listen with fake processes and a fake stream: every process is
// subscribed before the acknowledgement, only what the filter names is sent,
// stamped with the subscription id; repeats within the fold window become the
// first and one after the last; the last stream's end unsubscribes.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { pino } from 'pino';
import { FOLD_WINDOW_MS, ListenRegistry, SUBSCRIPTION_ID_META_KEY } from '../../../../adapter/modern/subscriptions-listen.js';
import type { McpWorker } from '../../../../adapter/pool/mcp-worker.js';
import type { ProcessPool } from '../../../../adapter/pool/process-pool.js';
import type { RpcNotification, RpcRequest } from '../../../../adapter/protocol/jsonrpc-message.js';
import type { ClientStream, Session } from '../../../../adapter/sessions/session.js';
import { SessionTable } from '../../../../adapter/sessions/session-table.js';
import { until } from '../../../support/wait.js';

class FakeStream implements ClientStream {
  closed = false;
  readonly sent: Array<Record<string, any>> = [];
  private readonly handlers: Array<() => void> = [];
  send(text: string): boolean {
    if (this.closed) return false;
    this.sent.push(JSON.parse(text) as Record<string, any>);
    return true;
  }
  end(): void {
    this.closed = true;
    for (const h of this.handlers) h();
  }
  onClose(h: () => void): void {
    this.handlers.push(h);
  }
}

function fakeWorker(slot: number, log: string[]): McpWorker {
  return {
    slot,
    request: async (method: string, params: Record<string, unknown>) => {
      log.push(`${slot} ${method} ${String(params['uri'])}`);
      return { kind: 'response', id: 1, result: {}, error: undefined };
    },
  } as unknown as McpWorker;
}

function setup() {
  const log: string[] = [];
  const workers = [fakeWorker(0, log), fakeWorker(1, log)];
  const pool = {
    identity: () => ({
      capabilities: { resources: { subscribe: true, listChanged: true } },
      serverInfo: { name: 'fixture', version: '1' },
    }),
    readyWorkers: () => workers,
  } as unknown as ProcessPool<McpWorker, Session>;
  const registry = new ListenRegistry(
    { maxStreams: 2, requestTimeoutMs: 1_000 },
    {
      pool,
      sessions: new SessionTable(),
      metrics: {
        inputRequired: () => undefined,
        answered: () => undefined,
        abandoned: () => undefined,
        refused: () => undefined,
        forwarded: () => undefined,
        listenOpened: () => undefined,
        listenDelivered: () => undefined,
      },
      logger: pino({ level: 'silent' }),
      rejected: () => undefined,
    },
  );
  const listen = (id: string, notifications: Record<string, unknown>): FakeStream => {
    const stream = new FakeStream();
    const msg = { kind: 'request', id, method: 'subscriptions/listen', params: { notifications } } as RpcRequest;
    registry.serve({} as ServerResponse, msg, true, () => stream);
    return stream;
  };
  const note = (method: string, uri?: string): RpcNotification =>
    ({ kind: 'notification', method, params: uri === undefined ? {} : { uri } }) as RpcNotification;
  return { registry, workers, log, listen, note };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('subscribed on every process before the acknowledgement; only what the filter names is sent, stamped', async () => {
  const { registry, workers, log, listen, note } = setup();
  const s = listen('L1', { resourceSubscriptions: ['a://x'], toolsListChanged: true });
  await tick();
  assert.deepEqual(log, ['0 resources/subscribe a://x', '1 resources/subscribe a://x']);
  assert.deepEqual(s.sent[0], {
    jsonrpc: '2.0',
    method: 'notifications/subscriptions/acknowledged',
    params: { notifications: { resourceSubscriptions: ['a://x'] }, _meta: { [SUBSCRIPTION_ID_META_KEY]: 'L1' } },
  });
  registry.notify(workers[0]!, note('notifications/resources/updated', 'a://x'));
  registry.notify(workers[0]!, note('notifications/resources/updated', 'a://other'));
  registry.notify(workers[0]!, note('notifications/tools/list_changed'));
  assert.deepEqual(s.sent.slice(1), [
    { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'a://x', _meta: { [SUBSCRIPTION_ID_META_KEY]: 'L1' } } },
  ]);
  assert.equal(registry.listens('a://x'), true);
  s.end();
  assert.deepEqual(log.slice(2), ['0 resources/unsubscribe a://x', '1 resources/unsubscribe a://x']);
  assert.equal(registry.listens('a://x'), false);
});

test('repeats within the fold window: the first at once, one after the last; a filter of nothing ends at once', async () => {
  const { registry, workers, listen, note } = setup();
  const s = listen('L2', { resourcesListChanged: true });
  await tick();
  for (const w of [...workers, ...workers]) registry.notify(w, note('notifications/resources/list_changed'));
  assert.equal(s.sent.length, 2, 'the acknowledgement and the first');
  const burstAt = performance.now();
  await until(() => s.sent.length === 3, 'one more after the last', 5_000, 5);
  assert.ok(performance.now() - burstAt >= FOLD_WINDOW_MS - 20, 'not before the window ends');
  await tick(FOLD_WINDOW_MS + 50);
  assert.equal(s.sent.length, 3, 'and only one');
  registry.notify(workers[0]!, note('notifications/resources/list_changed'));
  assert.equal(s.sent.length, 4, 'a change after the window is sent at once');
  const empty = listen('L3', { toolsListChanged: true });
  await tick();
  assert.equal(empty.sent.length, 2);
  assert.deepEqual(empty.sent[1], {
    jsonrpc: '2.0',
    id: 'L3',
    result: {
      resultType: 'complete',
      _meta: { [SUBSCRIPTION_ID_META_KEY]: 'L3', 'io.modelcontextprotocol/serverInfo': { name: 'fixture', version: '1' } },
    },
  });
  assert.equal(empty.closed, true);
  s.end();
});
