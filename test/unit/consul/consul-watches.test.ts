// The Consul source's requests against a stand-in Consul that holds blocking
// queries open and answers service reads slowly: however many services are
// read at once, connections stay within 3 watches + 4 readers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConsulWatches, type WatchName } from '../../../control-plane/sources/consul-watches.js';
import { until } from '../../support/wait.js';

test('100 services read at once: at most 4 reads in flight and 7 connections', async (t) => {
  let open = 0;
  let maxOpen = 0;
  let reading = 0;
  let maxReading = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://consul');
    if (url.pathname.startsWith('/v1/health/service/')) {
      reading++;
      maxReading = Math.max(maxReading, reading);
      setTimeout(() => {
        reading--;
        res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '1' }).end('[]');
      }, 5);
      return;
    }
    // A blocking query with an index waits for a change that never comes.
    if (url.searchParams.has('index')) return;
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '1' })
      .end(url.pathname === '/v1/catalog/services' ? '{}' : '[]');
  });
  server.on('connection', (socket) => {
    maxOpen = Math.max(maxOpen, ++open);
    socket.on('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });

  const answered = new Set<WatchName>();
  const read: string[] = [];
  let settled = 0;
  const watches = new ConsulWatches(
    { consulUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logger: pino({ level: 'silent' }), waitSeconds: 60 },
    {
      answer: (watch) => void answered.add(watch),
      failed: (watch, err) => assert.fail(`${watch}: ${err.message}`),
      service: async (name) => void read.push(name),
      settled: () => void settled++,
      wanted: () => true,
    },
  );
  t.after(() => watches.stop());
  watches.start();
  await until(() => answered.size === 3, 'the three watches answered');
  const names = Array.from({ length: 100 }, (_, i) => `s${i}`);
  watches.read(names);
  watches.read(names.slice(10, 20)); // still queued: not read twice
  await until(() => watches.idle(), 'every read done');
  assert.deepEqual(read, names, 'each read once, in order');
  assert.equal(settled, 100);
  assert.equal(maxReading, 4, 'reads in flight at once');
  assert.ok(maxOpen <= 7, `connections: ${maxOpen}`);
  assert.ok(watches.connections() <= 7);
});

test("reading another datacenter: catalog and health queries carry ?dc=, the policy prefix stays the agent's own", async (t) => {
  const seen: { path: string; dc: string | null }[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://consul');
    seen.push({ path: url.pathname, dc: url.searchParams.get('dc') });
    if (url.searchParams.has('index')) return;
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-consul-index': '1' })
      .end(url.pathname === '/v1/catalog/services' ? '{}' : '[]');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const answered = new Set<WatchName>();
  let read = 0;
  const watches = new ConsulWatches(
    {
      consulUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      logger: pino({ level: 'silent' }),
      waitSeconds: 60,
      datacenter: 'dc2',
    },
    {
      answer: (watch) => void answered.add(watch),
      failed: (watch, err) => assert.fail(`${watch}: ${err.message}`),
      service: async () => void read++,
      settled: () => undefined,
      wanted: () => true,
    },
  );
  t.after(() => watches.stop());
  watches.start();
  await until(() => answered.size === 3, 'the three watches answered');
  watches.read(['tools']);
  await until(() => read === 1, 'the service read');
  const dcOf = (path: string) => [...new Set(seen.filter((s) => s.path === path).map((s) => s.dc))];
  assert.deepEqual(dcOf('/v1/catalog/services'), ['dc2']);
  assert.deepEqual(dcOf('/v1/health/state/any'), ['dc2']);
  assert.deepEqual(dcOf('/v1/health/service/tools'), ['dc2']);
  assert.deepEqual(dcOf('/v1/kv/mcpmesh/policy/'), [null]);
});
