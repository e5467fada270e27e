// With --consul the adapter registers itself in a real Consul agent: tag mcp,
// meta mcp_path/mcp_protocol/mcpmesh_adapter, an HTTP check on /readyz (critical while no
// process is ready), and deregisters when it shuts down.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type ConsulAgent, startConsul } from '../../support/consul.js';
import { until } from '../../support/wait.js';

let consul: ConsulAgent;

before(async () => {
  consul = await startConsul();
});
after(async () => {
  await consul?.stop();
});

interface Entry {
  readonly Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[]; Meta: Record<string, string> };
  readonly Checks: Array<{ ServiceID: string; Status: string }>;
}

const entries = async (service: string) => (await consul.api('GET', `/v1/health/service/${service}`)) as Entry[];
const checkStatus = async (service: string) => (await entries(service))[0]?.Checks.find((c) => c.ServiceID !== '')?.Status;

test('registers with tag, meta and a passing /readyz check, and deregisters on shutdown', async () => {
  const adapter = await startFixtureAdapter({ name: 'tools', consul: { url: consul.url } });
  try {
    assert.equal(adapter.consulServiceId, `tools-127.0.0.1-${adapter.port}`);
    await until(async () => (await checkStatus('tools')) === 'passing', 'the readiness check passing', 15_000);
    const [e] = await entries('tools');
    assert.deepEqual(
      { id: e!.Service.ID, address: e!.Service.Address, port: e!.Service.Port, tags: e!.Service.Tags, meta: e!.Service.Meta },
      {
        id: adapter.consulServiceId,
        address: '127.0.0.1',
        port: adapter.port,
        tags: ['mcp'],
        meta: { mcp_path: '/mcp', mcp_protocol: 'auto', mcpmesh_adapter: 'true' },
      },
    );
  } finally {
    await adapter.shutdown();
  }
  assert.deepEqual(await entries('tools'), [], 'deregistered');
});

test('an adapter without a ready process is registered with a critical check', async () => {
  const adapter = await startFixtureAdapter({
    name: 'broken',
    consul: { url: consul.url, advertiseAddress: '127.0.0.1' },
    fixtureArgs: ['--mode', 'exit'],
    waitReady: false,
  });
  try {
    await until(async () => (await checkStatus('broken')) === 'critical', 'the readiness check critical', 15_000);
  } finally {
    await adapter.shutdown();
  }
});

test('an unreachable Consul is a clear startup error, and nothing is left running', async () => {
  await assert.rejects(
    startFixtureAdapter({ name: 'x', consul: { url: 'http://127.0.0.1:1' } }),
    /could not register in Consul at http:\/\/127\.0\.0\.1:1/,
  );
});
