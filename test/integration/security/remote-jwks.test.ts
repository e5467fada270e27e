// A provider's JWKS fetched by a real Envoy over TLS that verifies: keys from
// an HTTPS server whose certificate chains to the provider's CA are used; a
// JWKS server with a certificate from another CA is never trusted, so its
// provider's tokens are refused (401), whatever keys it serves.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CaFiles, issueLeaf, makeCa } from '../../../lib/dev-ca.js';
import { type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

let dir: string;
let ca: CaFiles;
let issuer: JwtIssuer;
let upstream: McpUpstream;
let mesh: Mesh;
const servers: https.Server[] = [];

async function jwksServer(certs: { cert: string; key: string }, jwks: string): Promise<string> {
  const server = https.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-jwks-'));
  ca = makeCa(join(dir, 'ca'));
  const rogueCa = makeCa(join(dir, 'rogue'), 'someone else');
  issuer = await startJwtIssuer(dir);
  const jwks = readFileSync(issuer.jwksFile, 'utf8');
  const good = await jwksServer(issueLeaf(ca, { name: 'jwks', commonName: 'jwks', ips: ['127.0.0.1'], usage: 'server' }), jwks);
  const rogue = await jwksServer(issueLeaf(rogueCa, { name: 'rogue', commonName: 'jwks', ips: ['127.0.0.1'], usage: 'server' }), jwks);
  upstream = await startMcpUpstream({ id: 'j' });
  const provider = (uri: string) => ({ issuer: issuer.issuer, audiences: [issuer.audience], jwks: { uri, caFile: ca.caCert } });
  mesh = await startMesh({
    config: {
      auth: { providers: { good: provider(good), rogue: provider(rogue) } },
      servers: [
        { name: 'verified', replicas: [upstream.url], policy: { auth: { provider: 'good' } } },
        { name: 'unverified', replicas: [upstream.url], policy: { auth: { provider: 'rogue' } } },
      ],
    },
  });
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
  for (const s of servers) s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function status(server: string, token: string): Promise<number> {
  const res = await postToolCall(mesh.agentUrl(server), 'whoami', {}, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/** 0: no answer (the listener not up yet). */
const statusOrNone = (server: string, token: string) => status(server, token).catch(() => 0);

test('a remote JWKS is used only from a server whose certificate Envoy verifies', async () => {
  const token = await issuer.sign({ sub: 'dana' });
  await until(async () => (await statusOrNone('verified', token)) === 200, 'the verified JWKS fetched and used', 20_000);
  // The same keys behind a certificate from another CA: never fetched, so no token verifies.
  for (let i = 0; i < 3; i++) assert.equal(await status('unverified', token), 401);
});
