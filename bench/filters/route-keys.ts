// Cost of deriving MCP route keys from the body (the Lua filter): the same
// tools/call POST through Envoy with the mcp-method/mcp-name headers (the filter
// returns at once) and without them (the filter buffers and scans the body),
// interleaved in one run, plus the upstream alone as the floor.
//   node dist/bench/filters/route-keys.js --requests 3000 --body-bytes 2000
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { startMesh, routeList } from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '3000' }, 'body-bytes': { type: 'string', default: '2000' } } });
const requests = Number(values.requests);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

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
  const mesh = await startMesh({
    config: { servers: [{ name: 'b', replicas: [`http://127.0.0.1:${port}/mcp`], policy: { tools: { search: { timeout: '5s' } } } }] },
    discoverTools: false,
  });
  await until(async () => (await routeList(mesh.adminUrl)).some((r) => r['name'] === 'b/tool/search'), 'routes');
  const padding = 'x'.repeat(Math.max(0, Number(values['body-bytes']) - 120));
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, params: { arguments: { query: padding, method: 'nested' }, name: 'search' }, method: 'tools/call' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (url: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`status ${String(res.statusCode)}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const cases: Record<string, () => Promise<number>> = {
    'upstream direct (floor)': () => post(`http://127.0.0.1:${port}/mcp`, {}),
    'Envoy, client sends mcp-method/mcp-name': () => post(mesh.agentUrl('b'), { 'mcp-method': 'tools/call', 'mcp-name': 'search' }),
    'Envoy, keys derived from the body (Lua)': () => post(mesh.agentUrl('b'), {}),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < 200; i++) for (const run of Object.values(cases)) await run();
  const deadline = performance.now() + 120_000;
  for (let i = 0; i < requests && performance.now() < deadline; i++) for (const [name, run] of Object.entries(cases)) samples[name]!.push(await run());
  const rows = Object.entries(samples).map(([name, s]) => {
    s.sort((a, b) => a - b);
    return { case: name, n: s.length, p50Ms: Number(percentile(s, 50).toFixed(3)), p99Ms: Number(percentile(s, 99).toFixed(3)) };
  });
  console.log(JSON.stringify({ bodyBytes: Buffer.byteLength(body), rows }));
  agent.destroy();
  await mesh.stop();
  upstream.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
