// The JWT token cache through a real Envoy: a repeated token is a cache hit
// (its signature is not verified again), and a token that expires while it
// is cached is refused with the 401 and its RFC 9728 pointer all the same.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../../support/jwt-issuer.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { MODERN_META, modernHeaders } from '../../support/modern-call.js';
import { rawPost } from '../../support/raw-post.js';
import { until } from '../../support/wait.js';

let dir: string;
let upstream: McpUpstream;
let mesh: Mesh;
let issuer: JwtIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmesh-jwt-cache-'));
  issuer = await startJwtIssuer(dir);
  upstream = await startMcpUpstream({ id: 'a' });
  mesh = await startMesh({
    config: {
      // The least skew Envoy takes: the token stops passing a second after its exp.
      auth: corpAuth(issuer, { clockSkew: '1s' }),
      servers: [{ name: 'tools', replicas: [upstream.url] }],
    },
  });
  await until(async () => new Set((await routeList(mesh.adminUrl)).map((r) => r['name'])).has('tools/tool/echo'), 'tool routes', 20_000);
});
after(async () => {
  await mesh?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const body = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hi' }, _meta: MODERN_META },
});

/** jwt_authn's cache counters, summed over the listener's filter chains (one here). */
async function cacheStats(): Promise<{ hit: number; miss: number }> {
  const res = await fetch(`${mesh.adminUrl}/stats?format=json&filter=${encodeURIComponent('jwt_authn\\.jwt_cache_(hit|miss)$')}`);
  const stats = ((await res.json()) as { stats: { name: string; value?: number }[] }).stats;
  const sum = (suffix: string) => stats.filter((s) => s.name.endsWith(suffix)).reduce((n, s) => n + (s.value ?? 0), 0);
  return { hit: sum('jwt_cache_hit'), miss: sum('jwt_cache_miss') };
}

test('a repeated token is a cache hit; once it expires while cached it is refused with 401', async () => {
  // One kept-alive connection: every call on the same Envoy worker, whose cache it is.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const exp = Math.floor(Date.now() / 1000) + 4;
    const token = await issuer.sign({ sub: 'alice' }, { expiresIn: exp });
    const headers = { ...modernHeaders('tools/call', 'echo'), authorization: `Bearer ${token}` };
    const before = await cacheStats();
    const first = await rawPost(mesh.agentUrl('tools'), body, { headers, agent });
    assert.equal(first.status, 200, first.text);
    const second = await rawPost(mesh.agentUrl('tools'), body, { headers, agent });
    assert.equal(second.status, 200, second.text);
    const cached = await cacheStats();
    assert.equal(cached.miss - before.miss, 1, 'the first call verified the token');
    assert.equal(cached.hit - before.hit, 1, 'the second call found it in the cache');
    // Past exp and the skew (whole seconds, as Envoy compares them).
    await new Promise((r) => setTimeout(r, Math.max(0, (exp + 2) * 1000 - Date.now()) + 100));
    const late = await rawPost(mesh.agentUrl('tools'), body, { headers, agent });
    assert.equal(late.status, 401, late.text);
    assert.match(
      String(late.headers['www-authenticate']),
      /^Bearer resource_metadata="http:\/\/[^"]+\/\.well-known\/oauth-protected-resource\/mcp\/tools"$/,
    );
    assert.match(late.text, /Jwt is expired/);
    assert.equal(upstream.calls.get('echo'), 2, 'the expired call never reached the upstream');
  } finally {
    agent.destroy();
  }
});
