// The adapter's own cost of tracing one call, in its process: CallTracer.start
// (parent from Envoy's traceparent header), the `_meta` splice into the
// request text, written(), end(), and the batched OTLP export to a real Jaeger
// (the export's serialization runs on the same thread as the calls). CPU time
// per call for a sampled context (`-01`, what 100% sends) and an unsampled one
// (`-00`, what 99% of calls carry at 1%), against the same loop with tracing
// off, in alternating rounds. With --baseline DIR (another checkout, built),
// that build's CallTracer too, in the same rounds: before and after in one run.
//
// --cold MB: before each call, a walk over MB megabytes (one write per cache
// line) pushes the tracer's code and data out of the CPU's caches, as the
// other processes of the path do between two calls of one client (Envoy, the
// stdio server, the load, the collector on the same cores); only the call's
// own part is timed then (CPU time read around it, the walk left out), and,
// apart, the turn of the event loop after it, where a span built after the
// answer (adapter/deferred-spans.ts) is recorded.
//
// Run: npx tsc -p . && node dist/bench/tracing/adapter-span-cost.js [--calls 20000] [--rounds 5] [--baseline DIR] [--cold 8 --calls 2000]
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { setMetaMembers } from '../../adapter/protocol/trace-meta.js';
import * as own from '../../adapter/tracing.js';
import { startJaeger } from '../../test/support/jaeger.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
    baseline: { type: 'string' },
    cold: { type: 'string' },
  },
});
const coldBytes = values.cold === undefined ? 0 : Number(values.cold) * 1024 * 1024;
const evict = new Float64Array(coldBytes / 8);
/** One write per 64-byte line of `evict`. */
function evictCaches(): void {
  for (let j = 0; j < evict.length; j += 8) evict[j]! += 1;
}
const calls = Number(values.calls);
const rounds = Number(values.rounds);
const REQUEST =
  '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello mcpmesh"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}';
const INFO = {
  server: 'bench',
  method: 'tools/call',
  tool: 'echo',
  generation: '2026-07-28',
  attempt: 1,
  jsonrpcId: '7',
  agent: undefined,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

type Tracer = Pick<own.CallTracer, 'start' | 'shutdown'>;

const turn = () => new Promise((r) => setImmediate(r));

/** CPU µs per call: on the call's path, and (cold) in the turn after it. */
interface Cost {
  readonly path: number;
  readonly after: number;
}

/**
 * CPU µs per call of `calls` calls, yielding to the event loop every 64 calls so exports run as they would
 * (cold: after every call, the turn timed apart).
 */
async function loop(tracer: Tracer | undefined, flags: '01' | '00'): Promise<Cost> {
  const t0 = process.cpuUsage();
  let sink = 0;
  let coldUs = 0;
  let afterUs = 0;
  for (let i = 0; i < calls; i++) {
    // Envoy sends an empty tracestate beside every traceparent.
    const headers = { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-${flags}`, tracestate: '' };
    if (coldBytes > 0) evictCaches();
    const c0 = coldBytes > 0 ? process.cpuUsage() : undefined;
    const span = tracer?.start(headers, undefined, INFO);
    const text = span ? setMetaMembers(REQUEST, span.meta)! : REQUEST;
    sink += text.length;
    span?.written(0);
    span?.end('ok', false);
    if (c0 !== undefined) {
      const d = process.cpuUsage(c0);
      coldUs += d.user + d.system;
      const a0 = process.cpuUsage();
      await turn();
      const a = process.cpuUsage(a0);
      afterUs += a.user + a.system;
    } else if (i % 64 === 63) await turn();
  }
  // Let the last batch go out inside the measured time.
  await new Promise((r) => setTimeout(r, 50));
  const d = process.cpuUsage(t0);
  if (sink === 0) throw new Error('unreachable');
  // Cold: the calls' own part and the turn after each (the export's timer runs outside both, as it does warm in the loop above).
  return coldBytes > 0 ? { path: coldUs / calls, after: afterUs / calls } : { path: (d.user + d.system) / calls, after: 0 };
}

const jaeger = await startJaeger();
const opts = { collector: jaeger.otlpUrl, sampling: 0, serviceName: 'bench-adapter', exportDelayMs: 500 };
const tracers: { label: string; tracer: Tracer }[] = [{ label: 'this build', tracer: new own.CallTracer(opts) }];
if (values.baseline !== undefined) {
  const m = (await import(pathToFileURL(join(resolve(values.baseline), 'dist/adapter/tracing.js')).href)) as typeof own;
  tracers.unshift({ label: 'baseline', tracer: new m.CallTracer(opts) });
}
const cells = [
  { label: 'off', tracer: undefined, flags: '01' as const },
  ...tracers.flatMap((t) => [
    { label: `${t.label}, sampled (-01)`, tracer: t.tracer, flags: '01' as const },
    { label: `${t.label}, unsampled (-00)`, tracer: t.tracer, flags: '00' as const },
  ]),
];
try {
  const results = new Map<string, Cost[]>(cells.map((c) => [c.label, []]));
  for (const c of cells) await loop(c.tracer, c.flags);
  for (let r = 0; r < rounds; r++) {
    for (const c of [...cells].sort(() => Math.random() - 0.5)) results.get(c.label)!.push(await loop(c.tracer, c.flags));
  }
  const offCosts = results.get('off')!;
  const off = median(offCosts.map((x) => x.path));
  const offAfter = median(offCosts.map((x) => x.after));
  process.stdout.write(
    `calls per cell ${calls}, ${rounds} rounds${coldBytes > 0 ? `, caches evicted before each call (${values.cold} MB walk)` : ''}; off ${off.toFixed(2)} µs/call (the header's random ids included)${coldBytes > 0 ? `, the turn after it ${offAfter.toFixed(2)}` : ''}\n`,
  );
  for (const c of cells.slice(1)) {
    const xs = results.get(c.label)!;
    const path = xs.map((x) => x.path - off);
    const after = xs.map((x) => x.after - offAfter);
    process.stdout.write(
      `${c.label.padEnd(30)} +${median(path).toFixed(2)} µs CPU per call over off (rounds: ${path.map((x) => x.toFixed(2)).join(', ')})${
        coldBytes > 0 ? `; in the turn after it +${median(after).toFixed(2)} (rounds: ${after.map((x) => x.toFixed(2)).join(', ')})` : ''
      }\n`,
    );
  }
} finally {
  for (const t of tracers) await t.tracer.shutdown();
  await jaeger.stop();
}
