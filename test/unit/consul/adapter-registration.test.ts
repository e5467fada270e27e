// The adapter's Consul registration against the control plane's reading of
// Consul, without a Consul: the adapter registers with a stand-in agent that
// records the body, the body is served back as Consul serves an instance, and
// the Consul source's translation must make a server of it. The names either
// side refuses must be the same.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { registerSelf } from '../../../adapter/consul-self-registration.js';
import { resolveOptions } from '../../../adapter/options.js';
import { mcpServiceNames, translateService } from '../../../control-plane/sources/consul-translation.js';
import { resolveHost } from '../../../lib/resolve-host.js';

interface RegisterBody {
  ID: string;
  Name: string;
  Address: string;
  Port: number;
  Tags: string[];
  Meta: Record<string, string>;
  Check: { CheckID: string; HTTP: string; Status?: string };
}

/** Answers the agent endpoints a registration uses and keeps each registration body. */
async function standInAgent(): Promise<{ url: string; registered: RegisterBody[]; close(): Promise<void> }> {
  const registered: RegisterBody[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'PUT' && req.url === '/v1/agent/service/register')
        registered.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as RegisterBody);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    registered,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The registration as /v1/health/service/<name> returns it: Consul adds the node, default weights and the node's own check. */
function asServed(reg: RegisterBody): unknown {
  return {
    Node: { Node: 'node-1', Address: '10.9.9.9' },
    Service: {
      ID: reg.ID,
      Service: reg.Name,
      Tags: reg.Tags,
      Address: reg.Address,
      Port: reg.Port,
      Meta: reg.Meta,
      Weights: { Passing: 1, Warning: 1 },
    },
    Checks: [
      { CheckID: 'serfHealth', Status: 'passing', ServiceID: '' },
      // Consul's default for a check registered without a status.
      { CheckID: reg.Check.CheckID, Status: reg.Check.Status ?? 'critical', ServiceID: reg.ID },
    ],
  };
}

const logger = pino({ level: 'silent' });

describe('the adapter registration and the Consul source agree', () => {
  let agent: Awaited<ReturnType<typeof standInAgent>>;
  before(async () => (agent = await standInAgent()));
  after(() => agent.close());

  async function register(opts: {
    name: string;
    host: string;
    port: number;
    path: string;
    advertiseAddress?: string;
    tls?: { healthHost: string; healthPort: number };
    ready: boolean;
  }): Promise<RegisterBody> {
    const before = agent.registered.length;
    const reg = await registerSelf({
      consulUrl: agent.url,
      name: opts.name,
      host: opts.host,
      port: opts.port,
      path: opts.path,
      advertiseAddress: opts.advertiseAddress,
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      serviceId: undefined,
      token: undefined,
      ready: () => opts.ready,
      logger,
    });
    await reg.stop();
    assert.equal(agent.registered.length, before + 1);
    return agent.registered[before]!;
  }

  test('a ready adapter becomes a healthy adapter replica of its server, at the address it advertised', async () => {
    const body = await register({ name: 'tools', host: '127.0.0.1', port: 17100, path: '/rpc', ready: true });
    assert.ok(mcpServiceNames({ [body.Name]: body.Tags }).has('tools'), 'listed as an MCP service');
    assert.equal(body.Check.HTTP, 'http://127.0.0.1:17100/readyz');
    const t = await translateService(body.Name, [asServed(body)], undefined, resolveHost);
    assert.deepEqual(t.spec, {
      name: 'tools',
      path: '/rpc',
      protocol: 'auto',
      tls: false,
      replicas: [{ id: body.ID, host: '127.0.0.1', port: 17100, health: 'healthy', weight: 1 }],
      policy: {},
      adapter: true,
    });
  });

  test('mTLS: Consul checks the plain health port, at the advertised address when it is bound to every interface', async () => {
    const loopback = await register({
      name: 'tools',
      host: '127.0.0.1',
      port: 17103,
      path: '/mcp',
      tls: { healthHost: '127.0.0.1', healthPort: 17203 },
      ready: true,
    });
    assert.equal(loopback.Check.HTTP, 'http://127.0.0.1:17203/readyz');
    // A Consul agent in another container reaches the adapter by the name it advertises, not by 0.0.0.0.
    const wildcard = await register({
      name: 'tools',
      host: '0.0.0.0',
      port: 17104,
      path: '/mcp',
      advertiseAddress: '127.0.0.2',
      tls: { healthHost: '0.0.0.0', healthPort: 17204 },
      ready: true,
    });
    assert.equal(wildcard.Check.HTTP, 'http://127.0.0.2:17204/readyz');
    assert.equal(wildcard.Meta['mcp_tls'], 'true');
  });

  test('an adapter not ready yet registers with no traffic until its check passes', async () => {
    const body = await register({ name: 'tools', host: '127.0.0.1', port: 17101, path: '/mcp', ready: false });
    const t = await translateService(body.Name, [asServed(body)], undefined, resolveHost);
    assert.deepEqual(
      t.spec.replicas.map((r) => r.health),
      ['unhealthy'],
    );
  });

  test('an IPv6 advertise address: the check URL brackets it and the replica keeps it', async () => {
    const body = await register({ name: 'tools', host: '::', port: 17102, path: '/mcp', advertiseAddress: '::1', ready: true });
    assert.equal(body.Check.HTTP, 'http://[::1]:17102/readyz');
    const t = await translateService(body.Name, [asServed(body)], undefined, resolveHost);
    assert.deepEqual(
      t.spec.replicas.map((r) => `${r.host} ${r.port}`),
      ['::1 17102'],
    );
  });

  test('the adapter refuses exactly the names the control plane rejects', async () => {
    const served = (name: string) => [
      asServed({
        ID: `${name}-1`,
        Name: name,
        Address: '127.0.0.1',
        Port: 17100,
        Tags: ['mcp'],
        Meta: {},
        Check: { CheckID: 'c', HTTP: '', Status: 'passing' },
      }),
    ];
    for (const name of ['tools', 't', '0tools', 'my_tools.v2-1', 'a'.repeat(63)]) {
      assert.equal(resolveOptions({ name, command: 'server' }).name, name);
      assert.equal((await translateService(name, served(name), undefined, resolveHost)).spec.name, name);
    }
    for (const name of ['MyTools', 'a'.repeat(64), '-tools', '_tools', 'my tools', 'tools/v2', '']) {
      assert.throws(() => resolveOptions({ name, command: 'server' }), /invalid adapter options: name: /, `the adapter accepts "${name}"`);
      await assert.rejects(
        translateService(name, served(name), undefined, resolveHost),
        /is not a valid MCP server name/,
        `the control plane accepts "${name}"`,
      );
    }
  });
});
