// Mcp-Param-* headers through a real Envoy: server `fixture` (three adapter
// replicas) has a tool `locate` whose `region` argument is declared as the
// Mcp-Param-Region header, and a policy rule sending calls with region "eu" to
// server `fixture-eu`. Envoy routes on the body's value once it verified the
// header; a header that disagrees with the body is refused (400, -32020) by
// Envoy where the rule's value is involved and by the adapter otherwise; the
// v2 client mirrors the argument itself.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { type AdapterProcess, startAdapterProcess } from '../../support/adapter-fixture.js';
import { type Mesh, routeList, startMesh } from '../../support/mesh.js';
import { postToolCall } from '../../support/modern-call.js';
import { until } from '../../support/wait.js';

let mesh: Mesh;
const started: AdapterProcess[] = [];
const HEALTH = { path: '/readyz', interval: '250ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 };

before(async () => {
  mesh = await startMesh({ config: { servers: [] } });
  const home = await Promise.all([0, 1, 2].map((i) => startAdapterProcess('fixture', 1, [], ['--param-tool', '--label', `home${i}`])));
  const eu = await startAdapterProcess('fixture-eu', 1, [], ['--param-tool', '--label', 'eu0']);
  started.push(...home, eu);
  mesh.writeConfig({
    servers: [
      {
        name: 'fixture',
        replicas: home.map((p) => p.url),
        policy: { healthCheck: HEALTH, paramRoutes: [{ tool: 'locate', param: 'Region', value: 'eu', server: 'fixture-eu' }] },
      },
      { name: 'fixture-eu', replicas: [eu.url], policy: { healthCheck: HEALTH } },
    ],
  });
  // The rule is active once the control plane learned that `locate` declares Region.
  await until(
    async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'fixture/param/0'),
    'the param route in Envoy',
    30_000,
  );
  // And both clusters answer.
  await until(
    async () => (await call('us', 'us')).status === 200 && (await call('eu', 'eu')).status === 200,
    'both servers routed',
    20_000,
  );
});
after(async () => {
  for (const p of started) p.child.kill('SIGKILL');
  await mesh?.stop();
});

type Answer = {
  status: number;
  body: { id?: unknown; result?: { content: Array<{ text: string }> }; error?: { code: number; message: string } };
};

async function call(
  bodyRegion: string,
  headerRegion: string | undefined,
  extra: Record<string, string> = {},
  args: Record<string, unknown> = {},
): Promise<Answer> {
  const res = await postToolCall(
    mesh.agentUrl('fixture'),
    'locate',
    { region: bodyRegion, ...args },
    { id: 7, headers: { ...(headerRegion !== undefined ? { 'mcp-param-region': headerRegion } : {}), ...extra } },
  );
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text.startsWith('{') ? text : (/data: (.*)/.exec(text)?.[1] ?? '{}')) };
}

function answer(r: Answer): string {
  return r.body.result?.content[0]?.text ?? JSON.stringify(r.body);
}

test('a rule on a verified Mcp-Param value routes to another server; other values stay', async () => {
  for (let i = 0; i < 6; i++) {
    const eu = await call('eu', 'eu');
    assert.equal(eu.status, 200);
    assert.match(answer(eu), /^located eu on eu0$/);
    const us = await call('us', 'us');
    assert.equal(us.status, 200);
    assert.match(answer(us), /^located us on home\d$/);
  }
  // The Base64 form of the same value is the same value.
  const b64 = await call('eu', `=?base64?${Buffer.from('eu').toString('base64')}?=`);
  assert.match(answer(b64), /^located eu on eu0$/);
});

test('a header that disagrees with the body about the routed value is refused by Envoy', async () => {
  for (const [body, header] of [
    ['eu', 'us'],
    ['us', 'eu'],
  ] as const) {
    const r = await call(body, header);
    assert.equal(r.status, 400, `${body}/${header}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, -32020);
    // Envoy's direct answer cannot echo the request id; the adapter's does.
    assert.equal(r.body.id, null);
  }
});

test('other mismatches, a missing header and a bad encoding are refused by the adapter', async () => {
  const cases: Array<[string, Answer]> = [
    ['another value', await call('us', 'asia')],
    ['missing on the routed value', await call('eu', undefined)],
    ['missing', await call('us', undefined)],
    ['bad Base64', await call('us', '=?base64?!!!?=')],
    ['integer param', await call('us', 'us', { 'mcp-param-shard': '4' }, { shard: 3 })],
  ];
  for (const [what, r] of cases) {
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, -32020, what);
    assert.equal(r.body.id, 7, `${what}: answered by the adapter`);
  }
  // An integer header equal as a number passes.
  const ok = await call('us', 'us', { 'mcp-param-shard': '3' }, { shard: 3 });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
});

test('the v2 client mirrors the declared argument itself, and is routed by it', async () => {
  const client = new Client({ name: 'param-test', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(mesh.agentUrl('fixture'))));
  try {
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'locate'));
    const eu = (await client.callTool({ name: 'locate', arguments: { region: 'eu' } })) as { content: Array<{ text: string }> };
    assert.equal(eu.content[0]?.text, 'located eu on eu0');
    const us = (await client.callTool({ name: 'locate', arguments: { region: 'us', shard: 2 } })) as { content: Array<{ text: string }> };
    assert.match(us.content[0]?.text ?? '', /^located us on home\d$/);
  } finally {
    await client.close();
  }
});
