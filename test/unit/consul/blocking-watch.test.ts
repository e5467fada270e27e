// Consul's blocking-query rules, against a scripted fake of the HTTP client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockingWatch } from '../../../lib/consul/blocking-watch.js';
import type { ConsulHttp, ConsulResponse } from '../../../lib/consul/consul-http.js';

test('wait index: follows X-Consul-Index, resets when it goes backwards, never sends 0', async () => {
  const script: (ConsulResponse<string> | Error)[] = [
    { body: 'a', index: 10 },
    { body: 'a', index: 10 }, // a wake-up with nothing new
    { body: 'b', index: 12 },
    { body: 'c', index: 5 }, // a new Consul: the index went backwards
    new Error('connection refused'),
    { body: 'd', index: 0 }, // Consul may answer index 0; it must not become a wait index
    { body: 'e', index: 3 },
  ];
  const sent: (string | undefined)[] = [];
  const fake: Pick<ConsulHttp, 'request'> = {
    request: async <T>(_m: string, _p: string, opts: { query?: Record<string, string | undefined> }) => {
      sent.push(opts.query?.['index']);
      const next = script.shift();
      if (!next) return new Promise<ConsulResponse<T>>(() => undefined); // block forever
      if (next instanceof Error) throw next;
      return next as unknown as ConsulResponse<T>;
    },
  };
  const seen: string[] = [];
  const errors: string[] = [];
  const watch = new BlockingWatch<string>(
    fake,
    { path: '/x', endpoint: 'x', ratePerSecond: 1000, burst: 1000 },
    {
      data: (body, index, reset) => seen.push(`${body}@${index}${reset ? ' reset' : ''}`),
      error: (err) => errors.push(err.message),
    },
  );
  watch.start();
  const end = Date.now() + 5_000;
  while (script.length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  watch.stop();
  assert.deepEqual(seen, ['a@10', 'b@12', 'c@5 reset', 'd@1', 'e@3 reset']);
  assert.deepEqual(errors, ['connection refused']);
  // No index on the first call and after the error; never "0".
  assert.deepEqual(sent, [undefined, '10', '10', '12', '5', undefined, '1', '3']);
});

test('wake-ups are rate limited by a token bucket', async () => {
  let calls = 0;
  const fake: Pick<ConsulHttp, 'request'> = {
    request: async <T>() => ({ body: 'x', index: ++calls }) as unknown as ConsulResponse<T>,
  };
  const watch = new BlockingWatch<string>(
    fake,
    { path: '/x', endpoint: 'x', ratePerSecond: 10, burst: 5 },
    { data: () => undefined, error: () => undefined },
  );
  watch.start();
  await new Promise((r) => setTimeout(r, 500));
  watch.stop();
  // 5 at once, then about 10/s: well under what an unthrottled loop would do.
  assert.ok(calls >= 5 && calls <= 12, `calls in 0.5 s: ${calls}`);
});
