// Several datacenters as one source, against a stand-in Consul agent that
// answers dc1 and fails every query for dc2: the source is ready with dc1,
// stale while dc2 fails (one gauge, the datacenter named in the error), and
// dc2's replicas join when it answers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import type { SourceState } from '../../../control-plane/catalog/model.js';
import { ConsulDatacentersSource } from '../../../control-plane/sources/consul-datacenters.js';
import { until } from '../../support/wait.js';

function instance(dc: string, port: number): unknown {
  return {
    Node: { Node: `n-${dc}`, Address: '127.0.0.1', Datacenter: dc },
    Service: { ID: `tools-${dc}`, Service: 'tools', Tags: ['mcp'], Address: '', Port: port, Meta: { mcp_zone: 'a' } },
    Checks: [{ CheckID: `c-${dc}`, Status: 'passing', ServiceID: `tools-${dc}` }],
  };
}

test('ready with the local datacenter; stale while another fails; its replicas join when it answers', async (t) => {
  let dc2Up = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://consul');
    const dc = url.searchParams.get('dc');
    if (url.pathname === '/v1/internal/acl/authorize') {
      res.writeHead(404).end();
      return;
    }
    if (dc === 'dc2' && !dc2Up) {
      res.writeHead(500).end('rpc error: no path to datacenter');
      return;
    }
    // Blocking queries with an index wait (a little: the test flips dc2 on).
    const index = url.searchParams.get('index');
    const answer = () => {
      const body =
        url.pathname === '/v1/catalog/services'
          ? { tools: ['mcp'] }
          : url.pathname === '/v1/health/service/tools'
            ? [instance(dc ?? 'dc1', dc === 'dc2' ? 7002 : 7001)]
            : [];
      res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': dc2Up ? '2' : '1' }).end(JSON.stringify(body));
    };
    if (index !== null) setTimeout(answer, 200);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const staleGauge: boolean[] = [];
  const source = new ConsulDatacentersSource({
    consulUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    logger: pino({ level: 'silent' }),
    waitSeconds: 1,
    datacenters: ['dc1', 'dc2'],
    metrics: { request: () => undefined, rejected: () => undefined, stale: (on) => void staleGauge.push(on) },
  });
  t.after(() => source.stop());
  let state: SourceState | undefined;
  await source.start((s) => {
    state = s;
  });
  assert.deepEqual(state!.datacenters, ['dc1', 'dc2']);
  assert.deepEqual(
    state!.servers.get('tools')!.replicas.map((r) => [r.id, r.locality]),
    [['tools-dc1@dc1', { datacenter: 'dc1', zone: 'a' }]],
  );
  assert.equal(source.status().stale, true, 'stale: dc2 not read yet');
  await until(() => source.status().lastError !== undefined, "dc2's failure reported", 10_000, 50);
  assert.equal(source.status().stale, true);
  assert.match(source.status().lastError ?? '', /^dc2: /);
  assert.equal(staleGauge.at(-1), true);
  dc2Up = true;
  await until(() => state!.servers.get('tools')!.replicas.length === 2, "dc2's replica joined", 10_000, 50);
  assert.deepEqual(
    state!.servers.get('tools')!.replicas.map((r) => [r.id, r.locality?.datacenter]),
    [
      ['tools-dc1@dc1', 'dc1'],
      ['tools-dc2@dc2', 'dc2'],
    ],
  );
  await until(() => !source.status().stale, 'fresh once dc2 answers', 10_000, 50);
  assert.equal(staleGauge.at(-1), false);
});
