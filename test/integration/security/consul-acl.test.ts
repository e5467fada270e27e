// A real Consul with ACLs on and default deny, and the token policies of
// docs/security.md (read from the doc itself, so the doc is what is tested):
// discovery and registration work with them and fail clearly without them. Then
// a full run — adapters over mTLS registered with their tokens, the control
// plane on Consul with its token, a real Envoy — whose logs hold no secret.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { ConsulSource } from '../../../control-plane/sources/consul-source.js';
import { issueLeaf, makeCa } from '../../../lib/dev-ca.js';
import type { Logger } from '../../../lib/log.js';
import { envoyNodeUri } from '../../../lib/mesh-contracts.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { type ConsulAgent, createAclToken, startConsul } from '../../support/consul.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

const MANAGEMENT = 'a11c0de5-0000-4000-8000-00000000cafe';
let consul: ConsulAgent;
let cpToken: string;
let adapterToken: string;
const cleanups: (() => Promise<void> | void)[] = [];

/** The ```hcl block of docs/security.md whose first line starts with `# <marker>`. */
function docPolicy(marker: string): string {
  const doc = readFileSync(new URL('../../../../docs/security.md', import.meta.url), 'utf8');
  const block = [...doc.matchAll(/```hcl\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith(`# ${marker}`));
  assert.ok(block, `docs/security.md has a policy for ${marker}`);
  return block;
}

before(async () => {
  consul = await startConsul({ acl: { managementToken: MANAGEMENT } });
  cpToken = await createAclToken(consul, 'mcpmesh-control-plane', docPolicy('mcpmesh control plane'));
  adapterToken = await createAclToken(consul, 'mcpmesh-adapter-fixture', docPolicy('mcpmesh adapter NAME').replaceAll('NAME', 'fixture'));
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await consul?.stop();
});

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }) as unknown as Logger, lines };
}

test('the adapter registers with the documented token; without a token registration fails naming the permission', async () => {
  // The first thing an adapter asks of Consul is its session key ring, then its registration: either 403 names the permission.
  await assert.rejects(
    startFixtureAdapter({ consul: { url: consul.url } }),
    /could not register in Consul[\s\S]*HTTP 403[\s\S]*lacks permission '(key|service):write' on "(mcpmesh\/session-keys\/)?fixture"/,
  );
  const adapter = await startFixtureAdapter({ consul: { url: consul.url, token: adapterToken } });
  cleanups.push(() => adapter.shutdown());
  type Entry = { Service: { ID: string }; Checks: { Status: string; ServiceID: string }[] };
  await until(
    async () =>
      ((await consul.api('GET', '/v1/health/service/fixture')) as Entry[]).some((e) =>
        e.Checks.some((c) => c.ServiceID === e.Service.ID && c.Status === 'passing'),
      ),
    'registered and passing',
    15_000,
  );
  // The token is for its own service only.
  await assert.rejects(
    startFixtureAdapter({ name: 'other', consul: { url: consul.url, token: adapterToken } }),
    /HTTP 403[\s\S]*lacks permission '(key|service):write' on "(mcpmesh\/session-keys\/)?other"/,
  );
});

test('discovery works with the documented control-plane token; without one the source is stale with an error naming the missing rules', async () => {
  const ok = capture();
  const stale: boolean[] = [];
  const source = new ConsulSource({
    consulUrl: consul.url,
    token: cpToken,
    logger: ok.logger,
    metrics: { request: () => undefined, rejected: () => undefined, stale: (on) => void stale.push(on) },
  });
  cleanups.push(() => source.stop());
  let servers: string[] = [];
  await source.start((s) => (servers = [...s.servers.keys()]));
  await until(() => servers.includes('fixture'), 'the adapter discovered', 10_000);
  await new Promise((r) => setTimeout(r, 300)); // the ACL check answers
  assert.equal(source.status().stale, false);
  assert.ok(!ok.lines.some((l) => l.includes('lacks')), ok.lines.join(''));

  const none = capture();
  const staleNone: boolean[] = [];
  const blind = new ConsulSource({
    consulUrl: consul.url,
    logger: none.logger,
    metrics: { request: () => undefined, rejected: () => undefined, stale: (on) => void staleNone.push(on) },
  });
  cleanups.push(() => blind.stop());
  let blindServers: string[] | undefined;
  await blind.start((s) => (blindServers = [...s.servers.keys()]));
  await until(() => blind.status().stale, 'stale without a token', 10_000);
  // Consul hid the catalog rather than refusing it: that is said, not silent.
  assert.deepEqual(blindServers, []);
  assert.equal(staleNone.at(-1), true);
  assert.match(
    blind.status().lastError ?? '',
    /lacks service_prefix "" \{ policy = "read" \}, node_prefix "" \{ policy = "read" \}, key_prefix "mcpmesh\/policy\/" \{ policy = "read" \}/,
  );
  assert.ok(
    none.lines.some((l) => l.includes('"level":50') && l.includes('ACL token lacks')),
    'an error is logged',
  );
});

let mesh: Mesh;

test('a full run with ACL tokens and TLS keys logs no secret', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-secrets-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(join(dir, 'ca'));
  const server = issueLeaf(ca, { name: 'server', commonName: 'adapter', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const envoy = issueLeaf(ca, { name: 'envoy', commonName: 'envoy-secrets', uris: [envoyNodeUri('envoy-secrets')], usage: 'client' });
  const { logger, lines } = capture();
  const tlsToken = await createAclToken(consul, 'mcpmesh-adapter-secure', docPolicy('mcpmesh adapter NAME').replaceAll('NAME', 'secure'));
  const adapters: AdapterHandle[] = [];
  for (let i = 0; i < 2; i++) {
    const a = await startFixtureAdapter({
      name: 'secure',
      logger,
      tls: { certFile: server.cert, keyFile: server.key, clientCaFile: ca.caCert },
      consul: { url: consul.url, token: tlsToken, serviceId: `secure-${i}` },
    });
    adapters.push(a);
    cleanups.push(() => a.shutdown());
  }
  mesh = await startMesh({
    consulUrl: consul.url,
    consulToken: cpToken,
    logger,
    nodeId: 'envoy-secrets',
    upstreamTls: { caFile: ca.caCert, clientCertFile: envoy.cert, clientKeyFile: envoy.key },
    xdsTls: { certFile: server.cert, keyFile: server.key, clientCaFile: ca.caCert },
    bootstrapXdsTls: { certFile: envoy.cert, keyFile: envoy.key, caFile: ca.caCert },
  });
  cleanups.push(() => mesh.stop());
  // Discovered from Consul (meta mcp_tls=true, plain health port passing), called over mTLS.
  let last = '';
  await until(
    async () => {
      try {
        const res = await postToolCall(mesh.agentUrl('secure'), 'echo', { text: 'secret-free' }, { signal: AbortSignal.timeout(5_000) });
        last = `${res.status} ${await res.text()}`;
        return res.status === 200 && last.includes('secret-free');
      } catch (err) {
        // Envoy's listener comes with its first configuration.
        last = (err as Error).message;
        return false;
      }
    },
    'a call through Envoy over mTLS to the Consul-discovered adapters',
    20_000,
    100,
  ).catch((err: Error) => assert.fail(`${err.message}: ${last}`));
  assert.equal(mesh.cp.sourceState().servers.get('secure')?.tls, true);
  for (const a of adapters) await a.shutdown();

  const logs = lines.join('') + mesh.envoy.logTail();
  assert.ok(lines.length > 10, 'the run logged');
  const keyBody = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----'));
  const secrets = [MANAGEMENT, cpToken, adapterToken, tlsToken, ...keyBody(server.key), ...keyBody(envoy.key), ...keyBody(ca.caKey)];
  for (const secret of secrets) assert.ok(!logs.includes(secret), `a secret is in the logs: ${secret.slice(0, 6)}…`);
});
