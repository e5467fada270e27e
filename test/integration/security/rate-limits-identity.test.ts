// Rate limits per verified identity, with a real Envoy validating real JWTs:
// two agents calling from the same address each get their own bucket (the
// token's `sub`, which Envoy's JWT filter sets in the identity header), and a
// forged identity header changes nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AGENT_IDENTITY_HEADER } from '../../../lib/mesh-contracts.js';
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

const LIMIT = 3;
let dir: string;
let issuer: JwtIssuer;
let upstream: McpUpstream;
let mesh: Mesh;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-rl-identity-'));
  issuer = await startJwtIssuer(dir);
  upstream = await startMcpUpstream({ id: 'rli' });
  mesh = await startMesh({
    config: {
      auth: corpAuth(issuer),
      servers: [
        {
          name: 'tools',
          replicas: [upstream.url],
          // A token every three seconds: a burst ends long before the next one.
          policy: { auth: { rules: [{ name: 'everyone', tools: ['*'] }] }, tools: { echo: { rateLimit: { requests: LIMIT, per: '9s' } } } },
        },
      ],
    },
  });
  await until(async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'tools/tool/echo'), 'tool routes', 20_000);
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function statuses(token: string, n: number, extra: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await postToolCall(
      mesh.agentUrl('tools'),
      'echo',
      { text: `i${i}` },
      { headers: { authorization: `Bearer ${token}`, ...extra } },
    );
    await res.text();
    out.push(res.status);
  }
  return out;
}

test('two agents from one address: each its own bucket, by the verified sub', async () => {
  const alice = await issuer.sign({ sub: 'alice' });
  await until(async () => (await statuses(alice, 1))[0] !== 401, 'JWT in force', 15_000, 200);
  // alice used one call above; her bucket has LIMIT - 1 left.
  assert.deepEqual(await statuses(alice, LIMIT), [...Array(LIMIT - 1).fill(200), 429]);
  const bob = await issuer.sign({ sub: 'bob' });
  assert.deepEqual(await statuses(bob, LIMIT + 1), [...Array(LIMIT).fill(200), 429], "bob's bucket is his own");
});

test("a forged identity header does not buy another agent's bucket", async () => {
  const carol = await issuer.sign({ sub: 'carol' });
  assert.deepEqual(await statuses(carol, LIMIT), Array(LIMIT).fill(200));
  // carol claims to be dave in the header: Envoy replaces it with her verified sub.
  assert.deepEqual(await statuses(carol, 2, { [AGENT_IDENTITY_HEADER]: 'dave' }), [429, 429]);
});
