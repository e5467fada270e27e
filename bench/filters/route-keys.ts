// Cost of finding MCP route keys in the body (json_to_metadata, routes on
// dynamic metadata): the same tools/call POST through Envoy with the 2026-07-28
// headers and without them (a body-only client), interleaved one request at a
// time in a shuffled order each round, plus the upstream alone as the floor. With --baseline DIR (another
// checkout, built), the same cases through that build's mesh too, in the same
// interleaving: before and after in one run.
//   node dist/bench/filters/route-keys.js --requests 3000 --body-bytes 2000 [--baseline /path/to/main]
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as own from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    'body-bytes': { type: 'string', default: '2000' },
    baseline: { type: 'string' },
  },
});
const requests = Number(values.requests);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

type MeshModule = Pick<typeof own, 'startMesh' | 'routeList'>;

async function main(): Promise<void> {
  // A minimal JSON upstream: what is measured is Envoy's path, not an MCP server.
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as AddressInfo).port;
  const builds: Array<[string, MeshModule]> = [['this build', own]];
  if (values.baseline !== undefined) {
    builds.push(['baseline', (await import(pathToFileURL(join(values.baseline, 'dist/test/support/mesh.js')).href)) as MeshModule]);
  }
  const meshes = [];
  for (const [label, m] of builds) {
    const mesh = await m.startMesh({
      config: { servers: [{ name: 'b', replicas: [`http://127.0.0.1:${port}/mcp`], policy: { tools: { search: { timeout: '5s' } } } }] },
      discoverTools: false,
    });
    await until(async () => (await m.routeList(mesh.adminUrl)).some((r) => r['name'] === 'b/tool/search'), 'routes');
    meshes.push({ label, mesh });
  }
  const padding = 'x'.repeat(Math.max(0, Number(values['body-bytes']) - 120));
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    params: { arguments: { query: padding, method: 'nested' }, name: 'search' },
    method: 'tools/call',
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (url: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${String(res.statusCode)}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const modern = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'search' };
  const cases: Record<string, () => Promise<number>> = { 'upstream direct (floor)': () => post(`http://127.0.0.1:${port}/mcp`, {}) };
  for (const { label, mesh } of meshes) {
    cases[`${label}: Envoy, client sends the 2026-07-28 headers`] = () => post(mesh.agentUrl('b'), modern);
    cases[`${label}: Envoy, body only`] = () => post(mesh.agentUrl('b'), {});
  }
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < 200; i++) for (const run of Object.values(cases)) await run();
  // Each round in a new order: a case that always came first after another
  // process's request would pay for waking an idle Envoy each time.
  let seed = 1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const order = Object.entries(cases);
  const deadline = performance.now() + 180_000;
  for (let i = 0; i < requests && performance.now() < deadline; i++) {
    for (let j = order.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [order[j], order[k]] = [order[k]!, order[j]!];
    }
    for (const [name, run] of order) samples[name]!.push(await run());
  }
  const rows = Object.entries(samples).map(([name, s]) => {
    s.sort((a, b) => a - b);
    return { case: name, n: s.length, p50Ms: Number(percentile(s, 50).toFixed(3)), p99Ms: Number(percentile(s, 99).toFixed(3)) };
  });
  console.log(JSON.stringify({ bodyBytes: Buffer.byteLength(body), rows }));
  agent.destroy();
  for (const { mesh } of meshes) await mesh.stop();
  upstream.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
