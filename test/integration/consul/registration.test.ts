import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { ConsulRegistration } from '../../../lib/consul/registration.js';
import { type ConsulAgent, startConsul } from '../../support/consul.js';
import { until } from '../../support/wait.js';

let consul: ConsulAgent | undefined;
let server: http.Server | undefined;
after(async () => {
  server?.close();
  await consul?.stop();
});

test('registers with tag, meta and a passing HTTP check, re-registers after a Consul restart, deregisters on stop', async () => {
  consul = await startConsul();
  server = http.createServer((req, res) => res.writeHead(req.url === '/readyz' ? 200 : 404).end());
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const reg = new ConsulRegistration({
    consulUrl: consul.url,
    name: 'tools',
    id: 'tools-a',
    address: '127.0.0.1',
    port,
    meta: { mcp_path: '/mcp' },
    checkPath: '/readyz',
    checkInterval: '1s',
    verifyEveryMs: 300,
    logger: pino({ level: 'silent' }),
  });
  await reg.start();
  type Entry = { Service: { ID: string; Tags: string[]; Meta: Record<string, string> }; Checks: { Status: string; ServiceID: string }[] };
  const entries = async () => (await consul!.api('GET', '/v1/health/service/tools')) as Entry[];
  await until(
    async () => (await entries())[0]?.Checks.some((c) => c.ServiceID === 'tools-a' && c.Status === 'passing') === true,
    'check passing',
  );
  const e = (await entries())[0]!;
  assert.deepEqual(e.Service.Tags, ['mcp']);
  assert.equal(e.Service.Meta['mcp_path'], '/mcp');

  // The restarted -dev agent starts empty; the registration notices and registers again.
  await consul.restart();
  await until(async () => reg.reRegistrations >= 1 && (await entries()).length === 1, 're-registered after the restart', 15_000);

  await reg.stop();
  assert.deepEqual(await entries(), []);
  await reg.stop();
});
