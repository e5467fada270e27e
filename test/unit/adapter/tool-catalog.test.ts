import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { WorkerState } from '../../../adapter/pool/pool-worker.js';
import type { RpcResponse } from '../../../adapter/protocol/jsonrpc-message.js';
import { ToolCatalog, type ToolSource } from '../../../adapter/tool-catalog.js';

function source(pages: Array<{ tools: unknown[]; nextCursor?: string }>): ToolSource & { state: WorkerState; asked: unknown[] } {
  const asked: unknown[] = [];
  return {
    state: 'starting',
    identity: undefined,
    asked,
    async request(method: string, params: Record<string, unknown> | undefined): Promise<RpcResponse> {
      assert.equal(method, 'tools/list');
      asked.push(params);
      const page = pages[asked.length - 1]!;
      return { kind: 'response', id: asked.length, result: page, error: undefined };
    },
  };
}

const identity = { capabilities: { tools: {} }, serverInfo: { name: 's', version: '1' }, instructions: undefined };

test('tools are replay-safe when their annotations say read-only or idempotent, over every page', async () => {
  const s = source([
    {
      tools: [
        { name: 'read', annotations: { readOnlyHint: true } },
        { name: 'put', annotations: { idempotentHint: true } },
      ],
      nextCursor: 'p2',
    },
    { tools: [{ name: 'write', annotations: { readOnlyHint: false } }, { name: 'bare' }] },
  ]);
  const catalog = new ToolCatalog(pino({ level: 'silent' }), 1_000);
  catalog.refreshFrom(s);
  assert.equal(s.asked.length, 0, 'a process that is not ready is not asked');
  Object.assign(s, { state: 'ready', identity });
  catalog.refreshFrom(s);
  await catalog.settled();
  assert.deepEqual(s.asked, [undefined, { cursor: 'p2' }]);
  assert.deepEqual(
    ['read', 'put', 'write', 'bare', 'unknown', undefined].map((t) => catalog.replaySafe(t)),
    [true, true, false, false, false, false],
  );
});

test('a list_changed before initialize completes still leads to one load once ready', async () => {
  const s = source([{ tools: [{ name: 'echo', annotations: { readOnlyHint: true } }] }]);
  const catalog = new ToolCatalog(pino({ level: 'silent' }), 1_000);
  catalog.invalidate(s);
  Object.assign(s, { state: 'ready', identity });
  catalog.refreshFrom(s);
  await catalog.settled();
  assert.equal(catalog.replaySafe('echo'), true);
  assert.equal(s.asked.length, 1);
});
