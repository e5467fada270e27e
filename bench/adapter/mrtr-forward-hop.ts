// What forwarding a multi round-trip retry to its holder costs, without Envoy:
// two adapter replicas sharing a key ring; the first leg of `elicit` goes to
// replica A, and its retry either to A (the holder) or to B (which forwards it
// to A), alternating. Latency is the retry's, from send to complete answer.
//
// Run: npx tsc -p . && node dist/bench/adapter/mrtr-forward-hop.js [--pairs 200]
import { parseArgs } from 'node:util';
import { newKeyRingJson } from '../../adapter/sessions/session-keys.js';
import { startAdapterProcess } from '../../test/support/adapter-fixture.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '200' } } });
const PAIRS = Number(values.pairs);
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'elicit',
};

interface Body {
  result?: { inputRequests?: Record<string, unknown>; requestState?: string; content?: unknown };
  error?: unknown;
}

async function post(url: string, extra: Record<string, unknown>, id: number): Promise<Body> {
  const params = { name: 'elicit', arguments: { question: 'q' }, _meta: META, ...extra };
  const r = await fetch(url, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params }),
  });
  return JSON.parse(await r.text()) as Body;
}

const quantile = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.floor(p * xs.length)]!;

const ring = JSON.stringify(newKeyRingJson());
const [a, b] = await Promise.all(
  [0, 1].map(() => startAdapterProcess('fixture', 2, [], [], { MCPMESH_SESSION_KEYS: ring, MCPMESH_LOG_LEVEL: 'error' })),
);
try {
  const samples: Record<'holder' | 'forwarded', number[]> = { holder: [], forwarded: [] };
  for (let i = 0; i < PAIRS; i++) {
    for (const via of ['holder', 'forwarded'] as const) {
      const leg = await post(a!.url, {}, 1);
      const key = Object.keys(leg.result?.inputRequests ?? {})[0]!;
      const retry = { inputResponses: { [key]: { action: 'accept', content: { answer: 'a' } } }, requestState: leg.result?.requestState };
      const t0 = performance.now();
      const done = await post(via === 'holder' ? a!.url : b!.url, retry, 2);
      if (done.result?.content === undefined) throw new Error(JSON.stringify(done));
      samples[via].push(performance.now() - t0);
    }
  }
  process.stdout.write('| retry sent to | retries | p50 ms | p90 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n');
  for (const [via, xs] of Object.entries(samples))
    process.stdout.write(
      `| ${via === 'holder' ? 'the holder' : 'another replica (forwarded)'} | ${xs.length} | ${quantile(xs, 0.5).toFixed(2)} | ${quantile(xs, 0.9).toFixed(2)} | ${quantile(xs, 0.99).toFixed(2)} |\n`,
    );
} finally {
  a!.child.kill('SIGKILL');
  b!.child.kill('SIGKILL');
}
