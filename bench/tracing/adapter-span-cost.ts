// The adapter's own cost of tracing one call, in its process: CallTracer.start
// (parent from Envoy's traceparent header), the `_meta` splice into the
// request text, written(), end(), and the batched OTLP export to a real Jaeger
// (the export's serialization runs on the same thread as the calls). CPU time
// per call with every span sampled, against the same loop with tracing off,
// in alternating rounds.
//
// Run: npx tsc -p . && node dist/bench/tracing/adapter-span-cost.js [--calls 20000] [--rounds 5]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setMetaMembers } from '../../adapter/protocol/trace-meta.js';
import { CallTracer } from '../../adapter/tracing.js';
import { startJaeger } from '../../test/support/jaeger.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
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

/** CPU µs per call of `calls` calls, yielding to the event loop every 64 calls so exports run as they would. */
async function loop(tracer: CallTracer | undefined): Promise<number> {
  const t0 = process.cpuUsage();
  let sink = 0;
  for (let i = 0; i < calls; i++) {
    const headers = { traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` };
    const span = tracer?.start(headers, undefined, INFO);
    const text = span ? setMetaMembers(REQUEST, span.meta)! : REQUEST;
    sink += text.length;
    span?.written(0);
    span?.end('ok', false);
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  // Let the last batch go out inside the measured time.
  await new Promise((r) => setTimeout(r, 50));
  const d = process.cpuUsage(t0);
  if (sink === 0) throw new Error('unreachable');
  return (d.user + d.system) / calls;
}

const jaeger = await startJaeger();
const tracer = new CallTracer({ collector: jaeger.otlpUrl, sampling: 0, serviceName: 'bench-adapter', exportDelayMs: 500 });
try {
  const off: number[] = [];
  const on: number[] = [];
  await loop(tracer);
  await loop(undefined);
  for (let r = 0; r < rounds; r++) {
    off.push(await loop(undefined));
    on.push(await loop(tracer));
  }
  const m = median(on) - median(off);
  process.stdout.write(
    `calls per round ${calls}, ${rounds} rounds: off ${median(off).toFixed(2)} µs/call (the header's random id included), on ${median(on).toFixed(2)} µs/call; tracing adds ${m.toFixed(2)} µs CPU per sampled call (rounds: on ${on.map((x) => x.toFixed(1)).join(', ')})\n`,
  );
} finally {
  await tracer.shutdown();
  await jaeger.stop();
}
