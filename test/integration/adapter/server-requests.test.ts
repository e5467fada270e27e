// Show 2: a request from the server to the client (elicitation, sampling) in a
// 2025-era session reaches the client of that session — also when several
// sessions share one process — and messages that belong to one call
// (progress) reach that call only.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { connectClient, firstText, startFixtureAdapter } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

let adapter: AdapterHandle;

before(async () => {
  adapter = await startFixtureAdapter({ poolMin: 1 });
});
after(async () => {
  await adapter?.shutdown();
});

async function answeringClient(name: string, asked: string[]): Promise<Client> {
  const client = await connectClient(adapter.url, '2025', { name, capabilities: { elicitation: { form: {} }, sampling: {} } });
  client.setRequestHandler('elicitation/create', async (req) => {
    asked.push(req.params.message);
    return { action: 'accept', content: { answer: `from ${name}` } };
  });
  client.setRequestHandler('sampling/createMessage', async (req) => {
    const first = req.params.messages[0]?.content;
    asked.push(first !== undefined && !Array.isArray(first) && first.type === 'text' ? first.text : '?');
    return { role: 'assistant', model: 'test-model', content: { type: 'text', text: `completion by ${name}` } };
  });
  return client;
}

async function counter(name: string): Promise<number> {
  const text = await adapter.metrics.registry.getSingleMetricAsString(name);
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#') && l.trim() !== '')
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

test('elicitation and sampling reach the right client while several sessions share one process', async () => {
  const askedA: string[] = [];
  const askedB: string[] = [];
  const a = await answeringClient('alice', askedA);
  const b = await answeringClient('bob', askedB);
  try {
    const results = await Promise.all([
      a.callTool({ name: 'elicit', arguments: { question: 'question for alice 1' } }),
      b.callTool({ name: 'elicit', arguments: { question: 'question for bob 1' } }),
      a.callTool({ name: 'sample', arguments: { prompt: 'prompt for alice' } }),
      b.callTool({ name: 'sample', arguments: { prompt: 'prompt for bob' } }),
      b.callTool({ name: 'elicit', arguments: { question: 'question for bob 2' } }),
    ]);
    assert.deepEqual(results.map(firstText), [
      'accept: {"answer":"from alice"}',
      'accept: {"answer":"from bob"}',
      'sampled: completion by alice',
      'sampled: completion by bob',
      'accept: {"answer":"from bob"}',
    ]);
    assert.deepEqual(askedA.sort(), ['prompt for alice', 'question for alice 1']);
    assert.deepEqual(askedB.sort(), ['prompt for bob', 'question for bob 1', 'question for bob 2']);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a server request no client of the call can answer is refused, not misdelivered', async () => {
  const refusedBefore = await counter('mcpmesh_adapter_server_requests_total');
  const plain = await connectClient(adapter.url, '2025', { name: 'plain' });
  const modern = await connectClient(adapter.url, '2026', { name: 'modern' });
  try {
    for (const client of [plain, modern]) {
      const outcome = await client.callTool({ name: 'elicit', arguments: { question: 'anyone?' } }).then(
        (r) => ({ isError: r.isError === true, text: firstText(r) }),
        (err: Error) => ({ isError: true, text: err.message }),
      );
      assert.equal(outcome.isError, true, outcome.text);
    }
    assert.equal((await counter('mcpmesh_adapter_server_requests_total')) - refusedBefore, 2);
  } finally {
    await plain.close();
    await modern.close();
  }
});

test('progress notifications reach the call they belong to, in both generations', async () => {
  const clients = await Promise.all([
    connectClient(adapter.url, '2025'),
    connectClient(adapter.url, '2026'),
    connectClient(adapter.url, '2025'),
  ]);
  try {
    const seen = clients.map(() => [] as number[]);
    const results = await Promise.all(
      clients.map((c, i) =>
        c.callTool({ name: 'progress', arguments: { steps: 5 + i } }, { onprogress: (p) => seen[i]!.push(p.progress) }),
      ),
    );
    assert.deepEqual(results.map(firstText), ['done 5', 'done 6', 'done 7']);
    assert.deepEqual(seen, [
      [1, 2, 3, 4, 5],
      [1, 2, 3, 4, 5, 6],
      [1, 2, 3, 4, 5, 6, 7],
    ]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('a cancelled call is cancelled on the process too and frees its place', async () => {
  for (const era of ['2025', '2026'] as const) {
    const client = await connectClient(adapter.url, era);
    const cancellations = async () => Number(firstText(await client.callTool({ name: 'cancellations', arguments: {} })));
    try {
      const before = await cancellations();
      const controller = new AbortController();
      const pending = client.callTool({ name: 'slow', arguments: { ms: 5_000 } }, { signal: controller.signal });
      await until(async () => (await counter('mcpmesh_adapter_calls_in_flight')) === 1, 'the call in flight');
      controller.abort();
      await assert.rejects(pending);
      await until(async () => (await counter('mcpmesh_adapter_calls_in_flight')) === 0, `${era}: the call leaving the pool`);
      await until(async () => (await cancellations()) === before + 1, `${era}: the server hearing of the cancellation`);
    } finally {
      await client.close();
    }
  }
  const text = await adapter.metrics.registry.getSingleMetricAsString('mcpmesh_adapter_calls_total');
  assert.match(text, /outcome="cancelled",retryable="false"} 2/);
});
