// Cost of list filtering: the same tools/list POST through one Envoy to three
// servers that share one upstream: no auth, a verified JWT only, and a JWT with
// rules (the answer goes through ext_proc to the control plane and is
// filtered), interleaved one request at a time in a shuffled order each round.
// Also a tools/call with and without rules (RBAC alone, no ext_proc).
//   node dist/bench/filters/list-filter.js --requests 2000 --tools 50
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startJwtIssuer } from '../../test/support/jwt-issuer.js';
import { startMesh } from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '2000' }, tools: { type: 'string', default: '50' } },
});
const requests = Number(values.requests);
const toolCount = Number(values.tools);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const names = Array.from({ length: toolCount }, (_, i) => `tool_${i}`);
  const listBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    result: { tools: names.map((name) => ({ name, description: `the ${name} tool`, inputSchema: { type: 'object' } })) },
  });
  const callBody = '{"jsonrpc":"2.0","id":1,"result":{"content":[]}}';
  // A minimal JSON upstream: what is measured is Envoy's and the filter's path.
  const upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(Buffer.concat(chunks).includes('"tools/list"') ? listBody : callBody);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const replica = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-bench-lists-'));
  const issuer = await startJwtIssuer(dir);
  const half = names.filter((_, i) => i % 2 === 0);
  const mesh = await startMesh({
    config: {
      auth: { providers: { corp: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile } } } },
      servers: [
        { name: 'open', replicas: [replica] },
        { name: 'jwt', replicas: [replica], policy: { auth: { provider: 'corp' } } },
        {
          name: 'rules',
          replicas: [replica],
          policy: { auth: { provider: 'corp', rules: [{ name: 'r', when: { scopes: ['read'] }, tools: half }] } },
        },
      ],
    },
    discoverTools: false,
  });
  const token = await issuer.sign({ sub: 'bench', scope: 'read' }, { expiresIn: '2h' });
  const post = async (server: string, method: 'tools/list' | 'tools/call', auth: boolean): Promise<number> => {
    const params = method === 'tools/list' ? {} : { name: 'tool_0', arguments: {} };
    const started = process.hrtime.bigint();
    const res = await fetch(mesh.agentUrl(server), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(auth ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    const text = await res.text();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (res.status !== 200) throw new Error(`${server} ${method}: ${res.status} ${text}`);
    if (method === 'tools/list') {
      const n = (JSON.parse(text) as { result: { tools: unknown[] } }).result.tools.length;
      if (n !== (server === 'rules' ? half.length : toolCount)) throw new Error(`${server}: ${n} tools`);
    }
    return ms;
  };
  const cases: Array<[string, () => Promise<number>]> = [
    ['tools/list, no auth', () => post('open', 'tools/list', false)],
    ['tools/list, JWT', () => post('jwt', 'tools/list', true)],
    ['tools/list, JWT + rules (filtered)', () => post('rules', 'tools/list', true)],
    ['tools/call, JWT', () => post('jwt', 'tools/call', true)],
    ['tools/call, JWT + rules (RBAC)', () => post('rules', 'tools/call', true)],
  ];
  await until(
    async () => {
      try {
        for (const [, run] of cases) await run();
        return true;
      } catch {
        return false;
      }
    },
    'every case answers',
    20_000,
  );
  for (let i = 0; i < 200; i++) for (const [, run] of cases) await run();
  const samples = new Map<string, number[]>(cases.map(([n]) => [n, []]));
  for (let i = 0; i < requests; i++) {
    const order = [...cases].sort(() => Math.random() - 0.5);
    for (const [name, run] of order) samples.get(name)!.push(await run());
  }
  console.log(`| case (${toolCount} tools, ${requests} requests each, one client) | p50 ms | p99 ms |`);
  console.log('| --- | ---: | ---: |');
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    console.log(`| ${name} | ${percentile(s, 50).toFixed(3)} | ${percentile(s, 99).toFixed(3)} |`);
  }
  await mesh.stop();
  upstream.close();
  rmSync(dir, { recursive: true, force: true });
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
