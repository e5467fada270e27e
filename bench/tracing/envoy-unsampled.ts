// What Envoy's OpenTelemetry tracer costs Envoy per request, by how the
// request is sampled, with nothing else on the path: Envoy in front of a
// minimal upstream (in this process, answering every MCP call with a fixed
// result, so the adapter's CPU and noise are out of the figure). Variants
// side by side, each its own control plane and Envoy, in a new order each
// round: tracing off; the tracer on at 0% (no request sampled: what an
// unsampled request costs), at 1% and at 100%; 0% without the span per try
// (`tracing.upstreamSpans: false`); 1% with an agent's unsampled traceparent
// (`-00`) on every request; and 1% with a traceparent Envoy cannot parse (its
// tracer then gives the request no span at all: what the spans themselves
// cost). Envoy's CPU per call from every thread's schedstat, as the median
// over rounds of each round's difference to that round's "off".
//
// Run: npx tsc -p . && node dist/bench/tracing/envoy-unsampled.js [--rounds 7] [--measure 2s] [--clients 1]
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../lib/duration.js';
import { startJaeger } from '../../test/support/jaeger.js';
import { type Mesh, startMesh } from '../../test/support/mesh.js';
import { type Phase, waitServing } from '../adapter/load.js';
import { seededShuffle } from '../sampling.js';
import { envoyCpuRun } from './envoy-cpu-run.js';
import { startFixedUpstream } from './fixed-upstream.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    measure: { type: 'string', default: '2s' },
    warmup: { type: 'string', default: '1500ms' },
    clients: { type: 'string', default: '1' },
  },
});
const rounds = Number(values.rounds);
const clients = Number(values.clients);
const phase: Phase = { warmupMs: parseDuration(values.warmup!) ?? 1500, measureMs: parseDuration(values.measure!) ?? 2000 };
// Every run alternates the rows in the same orders, so two runs compare.
const shuffle = seededShuffle(7);
const AGENT_TRACE = '0af7651916cd43dd8448eb211c80319c';

interface Variant {
  readonly name: string;
  readonly sampling: number | undefined;
  readonly upstreamSpans?: false;
  readonly traceparent?: string;
  mesh?: Mesh;
}

const VARIANTS: Variant[] = [
  { name: 'off', sampling: undefined },
  { name: 'on, 0%', sampling: 0 },
  { name: 'on, 1%', sampling: 1 },
  { name: 'on, 100%', sampling: 100 },
  { name: 'on, 0%, no upstream span', sampling: 0, upstreamSpans: false },
  { name: "on, 1%, agent's -00 traceparent", sampling: 1, traceparent: `00-${AGENT_TRACE}-b7ad6b7169203331-00` },
  { name: 'on, 1%, unparsable traceparent', sampling: 1, traceparent: 'not-a-traceparent' },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const jaeger = await startJaeger();
const upstream = await startFixedUpstream();
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
try {
  for (const v of VARIANTS) {
    v.mesh = await startMesh({
      config: { servers: [{ name: 'bench', replicas: [upstreamUrl] }] },
      ...(v.sampling !== undefined
        ? {
            observability: {
              tracing: { collector: jaeger.otlpUrl, sampling: v.sampling, ...(v.upstreamSpans === false ? { upstreamSpans: false } : {}) },
            },
          }
        : {}),
    });
    await waitServing(v.mesh.agentUrl('bench'), 20_000);
  }
  const perCall = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
  const p50 = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const v of shuffle([...VARIANTS])) {
      const r = await envoyCpuRun(v.name, v.mesh!.agentUrl('bench'), v.mesh!.envoy.pid!, clients, phase, v.traceparent);
      perCall.get(v.name)!.push(r.usPerCall);
      p50.get(v.name)!.push(r.p50Ms);
      process.stderr.write(`round ${round + 1} ${v.name.padEnd(34)} ${r.usPerCall.toFixed(1)} µs/call  p50 ${r.p50Ms.toFixed(3)} ms\n`);
    }
  }
  const off = perCall.get('off')!;
  const lines = [
    `| Envoy, ${clients} client${clients > 1 ? 's' : ''} | CPU µs per call (median of rounds) | vs off (median of the rounds' differences) | that difference's spread (min–max) | p50 ms (median) |`,
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const v of VARIANTS) {
    const xs = perCall.get(v.name)!;
    const d = xs.map((x, i) => x - off[i]!);
    const isOff = v.name === 'off';
    lines.push(
      `| ${v.name} | ${median(xs).toFixed(1)} | ${isOff ? '' : `${median(d) >= 0 ? '+' : ''}${median(d).toFixed(1)}`} | ${isOff ? '' : `${Math.min(...d).toFixed(1)}–${Math.max(...d).toFixed(1)}`} | ${median(p50.get(v.name)!).toFixed(3)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const v of VARIANTS) await v.mesh?.stop();
  upstream.close();
  await jaeger.stop();
}
