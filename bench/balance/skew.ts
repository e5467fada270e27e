// Balance quality under a skewed load: three replicas, one of them slow (a
// fixed delay on every request), and the same bounded load through Envoy under
// each strategy. Reports the slow replica's share of the calls and the
// latency percentiles. The strategies run in one session, one server each over
// the same three replicas, interleaved in a shuffled order per round, so the
// default (least-request) is the baseline of the same run.
//   node dist/bench/balance/skew.js --calls 1200 --concurrency 8 --slow-ms 40 --rounds 3
import { parseArgs } from 'node:util';
import { type McpUpstream, startMcpUpstream } from '../../test/support/mcp-upstream.js';
import { startMesh } from '../../test/support/mesh.js';
import { modernToolCall } from '../../test/support/modern-call.js';
import { until } from '../../test/support/wait.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '1200' },
    concurrency: { type: 'string', default: '8' },
    'slow-ms': { type: 'string', default: '40' },
    rounds: { type: 'string', default: '3' },
  },
});
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const slowMs = Number(values['slow-ms']);
const rounds = Number(values.rounds);
/** No case runs longer than this, whatever the machine. */
const CASE_LIMIT_MS = 60_000;

const STRATEGIES = [
  { name: 'least-request', loadBalancing: {} },
  { name: 'round-robin', loadBalancing: { strategy: 'round-robin' } },
  { name: 'random', loadBalancing: { strategy: 'random' } },
  { name: 'ring-hash', loadBalancing: { strategy: 'ring-hash', hashOn: { argument: 'text' } } },
  { name: 'maglev', loadBalancing: { strategy: 'maglev', hashOn: { argument: 'text' } } },
] as const;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function shuffled<T>(list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Totals {
  slow: number;
  done: number;
  failed: number;
  latencies: number[];
}

async function main(): Promise<void> {
  const upstreams: McpUpstream[] = [];
  for (const id of ['fast1', 'fast2', 'slow']) upstreams.push(await startMcpUpstream({ id }));
  upstreams[2]!.setDelayMs(slowMs);
  const replicas = upstreams.map((u) => u.url);
  const mesh = await startMesh({
    config: { servers: STRATEGIES.map((s) => ({ name: s.name, replicas, policy: { loadBalancing: s.loadBalancing } })) },
  });
  try {
    for (const s of STRATEGIES)
      await until(async () => (await modernToolCall(mesh.agentUrl(s.name), 0, 'echo', { text: 'warm' })).ok, `${s.name} serving`, 20_000);
    const totals = new Map<string, Totals>(STRATEGIES.map((s) => [s.name, { slow: 0, done: 0, failed: 0, latencies: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const s of shuffled(STRATEGIES)) {
        const t = totals.get(s.name)!;
        const url = mesh.agentUrl(s.name);
        let next = 0;
        const end = performance.now() + CASE_LIMIT_MS;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < calls && performance.now() < end) {
              const i = next++;
              const started = performance.now();
              // 64 distinct keys: a cache-friendly workload for the hash strategies.
              const r = await modernToolCall(url, i, 'echo', { text: `key-${i % 64}` });
              t.latencies.push(performance.now() - started);
              if (!r.ok) t.failed++;
              else {
                t.done++;
                if (r.text.endsWith('(from slow)')) t.slow++;
              }
            }
          }),
        );
      }
    }
    console.log(`| strategy | calls | slow replica's share | p50 ms | p99 ms | failed |`);
    console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const s of STRATEGIES) {
      const t = totals.get(s.name)!;
      const sorted = [...t.latencies].sort((a, b) => a - b);
      console.log(
        `| ${s.name}${s.name === 'least-request' ? ' (default, baseline)' : ''} | ${t.done} | ${((100 * t.slow) / Math.max(1, t.done)).toFixed(1)}% | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} | ${t.failed} |`,
      );
    }
  } finally {
    await mesh.stop();
    for (const u of upstreams) await u.close();
  }
}

await main();
