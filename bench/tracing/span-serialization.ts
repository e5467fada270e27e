// What one adapter span costs inside the OpenTelemetry SDK, by part, and what
// the OTLP serializer choice would change: spans shaped like the adapter's
// (its 11 attributes, or none), started, ended and serialized in batches of
// 512 (BatchSpanProcessor's default batch) by the SDK's own OTLP/protobuf
// serializer (the one the adapter's exporter uses) and by its OTLP/JSON one
// (what exporter-trace-otlp-http would send). No network: the export's HTTP
// post is measured with the real collector by adapter-span-cost.ts.
// The serializers come from @opentelemetry/otlp-transformer, which the
// protobuf exporter depends on (not a dependency of mcpmesh's own).
//
// Run: npx tsc -p . && node dist/bench/tracing/span-serialization.js [--batches 40] [--rounds 5]
import { parseArgs } from 'node:util';
import { type Attributes, SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const { values } = parseArgs({ options: { batches: { type: 'string', default: '40' }, rounds: { type: 'string', default: '5' } } });
const batches = Number(values.batches);
const rounds = Number(values.rounds);
const BATCH = 512;

const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bench-adapter' }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('mcpmesh-adapter');

// The adapter's attributes (docs/observability.md): 7 at the start, 4 at the end of an ok call.
const START: Attributes = {
  'mcp.method.name': 'tools/call',
  'mcp.protocol.version': '2026-07-28',
  'mcpmesh.server': 'bench',
  'mcpmesh.protocol.generation': 'stateless',
  'mcpmesh.attempt': 1,
  'jsonrpc.request.id': '7',
  'gen_ai.tool.name': 'echo',
};

function makeBatch(withAttributes: boolean): ReadableSpan[] {
  memory.reset();
  for (let i = 0; i < BATCH; i++) {
    const s = tracer.startSpan('tools/call echo', { kind: SpanKind.SERVER, ...(withAttributes ? { attributes: START } : {}) });
    if (withAttributes) {
      s.setAttribute('mcpmesh.process.slot', 0);
      s.setAttribute('mcpmesh.queue_wait_ms', 0.012);
      s.setAttribute('mcpmesh.outcome', 'ok');
      s.setAttribute('mcpmesh.server_time_ms', 0.301);
    }
    s.end();
  }
  return memory.getFinishedSpans();
}

/** CPU µs per span of `work` over `batches` batches. */
function perSpan(work: () => void): number {
  const t0 = process.cpuUsage();
  for (let b = 0; b < batches; b++) work();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / (batches * BATCH);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const full = makeBatch(true);
const bare = makeBatch(false);
const cells: Record<string, () => void> = {
  'start + end, 11 attributes': () => makeBatch(true),
  'start + end, no attributes': () => makeBatch(false),
  'OTLP/protobuf, 11 attributes': () => ProtobufTraceSerializer.serializeRequest(full),
  'OTLP/protobuf, no attributes': () => ProtobufTraceSerializer.serializeRequest(bare),
  'OTLP/JSON, 11 attributes': () => JsonTraceSerializer.serializeRequest(full),
};
const results = new Map<string, number[]>(Object.keys(cells).map((k) => [k, []]));
for (const work of Object.values(cells)) perSpan(work);
for (let r = 0; r < rounds; r++) {
  for (const [k, work] of Object.entries(cells).sort(() => Math.random() - 0.5)) results.get(k)!.push(perSpan(work));
}
const bytes = (ser: typeof ProtobufTraceSerializer) => (ser.serializeRequest(full)?.length ?? 0) / BATCH;
process.stdout.write(`${batches} batches of ${BATCH} spans per cell, ${rounds} rounds; CPU µs per span, median (min–max)\n`);
for (const [k, xs] of results) {
  process.stdout.write(`${k.padEnd(30)} ${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})\n`);
}
process.stdout.write(
  `bytes per span, 11 attributes: OTLP/protobuf ${bytes(ProtobufTraceSerializer).toFixed(0)}, OTLP/JSON ${bytes(JsonTraceSerializer).toFixed(0)}\n`,
);
