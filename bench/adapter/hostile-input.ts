// The adapter's CPU time for the worst-shaped body of each hostile kind, at
// 1 and 4 MiB (linear: the 4 MiB figure is about 4× the 1 MiB one), and its
// resident memory for one large valid answer from the server.
//
// The adapter runs in this process, the fixture stdio server and the client
// (hostile-client.ts) each in their own, so process.cpuUsage() around one
// request is the adapter's work alone; each figure is the
// median of 5 runs after 1 warmup (and, at 4 MiB, the mean and the fastest
// of them: on a shared machine other processes only ever add to a run's CPU
// time), beside the median of the collector's pauses inside those runs (V8's
// gc entries; the incremental marking steps before a pause are not in them).
//
// The heap is collected once before each kind's warmup, and not between its
// runs: a running adapter collects when its own allocation says so, and each
// run pays its share of that (the mean says what a steady stream of the
// kind costs). A full collection forced before every run, as this bench did
// first (--gc-each), leaves V8 limits sized to the bare live heap, and a
// 4 MiB request then meets a collection of the whole heap in half its runs:
// bench/RESULTS.md, "Hostile input", has both side by side.
//
// Run: npx tsc -p . && node --expose-gc dist/bench/adapter/hostile-input.js [--answer-mb 48]
//   [--kind <substring>] [--runs 5] [--gc-each]: only the body kinds whose name holds the substring (no
//   answer rows), each measured --runs times after the warmup (more runs give a profile more samples);
//   --gc-each forces a full collection before every run instead of before each kind.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runAdapter } from '../../adapter/adapter.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/stdio-server.js', import.meta.url));
const { values } = parseArgs({
  options: {
    'answer-mb': { type: 'string', default: '48' },
    kind: { type: 'string' },
    runs: { type: 'string', default: '5' },
    'gc-each': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const MIB = 1024 * 1024;
const META = '"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}';
const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo',
};

/** Fills `size` bytes with `unit` repeated (joined by commas). */
function repeat(unit: string, size: number): string {
  return Array.from({ length: Math.max(1, Math.floor(size / (unit.length + 1))) }, () => unit).join(',');
}

const KINDS: ReadonlyArray<{ name: string; body: (size: number) => Buffer }> = [
  {
    name: 'nested {"id":1} before a spaced top-level id',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"text":"x","pad":[${repeat('{"id":1}', n)}]},"_meta":{${META}}}, "id": 1}`,
      ),
  },
  {
    // 182,000 objects at 4 MiB: over the container bound, refused before parsing.
    name: 'progress token after 4 MiB of _meta members',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{${repeat('"k":{"progressToken":1}', n)},"progressToken":"p",${META}}}}`,
      ),
  },
  {
    // Padded members, about 89,000 objects at 4 MiB: the most the container bound accepts in this shape.
    name: 'progress token after 4 MiB of _meta members (as many as the container bound accepts)',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{${repeat(`"k":{"progressToken":1,"p":"${'x'.repeat(16)}"}`, n)},"progressToken":"p",${META}}}}`,
      ),
  },
  {
    name: 'nesting 128 deep (the bound), repeated, with a progress token',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":[${repeat('['.repeat(120) + ']'.repeat(120), n)}]},"_meta":{"progressToken":"p",${META}}}}`,
      ),
  },
  {
    name: 'nesting 1M deep (refused)',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${'['.repeat(n / 2)}${']'.repeat(n / 2)}}}}`,
      ),
  },
  {
    name: 'escaped quotes in one string',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'\\"'.repeat(n / 2)}"},"_meta":{${META}}}}`,
      ),
  },
  {
    name: 'non-ASCII text in one string (é, two bytes each)',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'é'.repeat(n / 2)}"},"_meta":{${META}}}}`,
      ),
  },
  {
    // Past Latin-1: the text is UTF-16 in the adapter (twice the bytes of a one-byte string).
    name: 'non-Latin-1 text in one string (ж, two bytes each)',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'ж'.repeat(n / 2)}"},"_meta":{${META}}}}`,
      ),
  },
  {
    name: 'an unknown top-level member (refused)',
    body: (n) =>
      Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'x'.repeat(n)}"},"_meta":{${META}}},"x-extra":0}`,
      ),
  },
  {
    name: 'invalid UTF-8 at the end (refused)',
    body: (n) => {
      const b = Buffer.from(
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'é'.repeat(n / 2)}Z"},"_meta":{${META}}}}`,
      );
      b[b.lastIndexOf('Z')] = 0xff;
      return b;
    },
  },
];

type ClientAnswer = { type: 'loaded' } | { type: 'done'; status: number; bytes: number } | { type: 'failed'; message: string };

/** The client process (hostile-client.ts): its CPU is not the adapter's, so it is not in this process's reading. */
const client: ChildProcess = fork(fileURLToPath(new URL('./hostile-client.js', import.meta.url)), [], { serialization: 'advanced' });

function ask(message: object): Promise<ClientAnswer> {
  return new Promise((resolve) => {
    client.once('message', (m: ClientAnswer) => resolve(m));
    client.send(message);
  });
}

/** Gives the client its next body (outside any measured window). */
async function load(port: number, body: Buffer, tool = 'echo'): Promise<void> {
  await ask({ type: 'load', port, headers: { ...HEADERS, 'mcp-name': tool }, body });
}

/** One POST of the loaded body. */
async function post(): Promise<{ status: number; bytes: number }> {
  const a = await ask({ type: 'go' });
  if (a.type === 'failed') throw new Error(`client: ${a.message}`);
  if (a.type !== 'done') throw new Error(`client: unexpected ${a.type}`);
  return a;
}

/** Ends the run early when --kind picks body kinds only. */
class Done extends Error {}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The collector's pauses (start, duration; performance.now() time), to be matched to the measured windows. */
const pauses: Array<readonly [number, number]> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pauses.push([e.startTime, e.duration]);
});
gcObserver.observe({ entryTypes: ['gc'] });

const collect = (): void => (globalThis as { gc?: () => void }).gc?.();

async function cpuOf(
  port: number,
  body: Buffer,
  tool?: string,
): Promise<{ ms: number; mean: number; min: number; gc: number; status: number }> {
  const samples: number[] = [];
  const windows: Array<readonly [number, number]> = [];
  let status = 0;
  await load(port, body, tool);
  collect();
  for (let i = 0; i <= RUNS; i++) {
    if (values['gc-each']) collect();
    const at = performance.now();
    const before = process.cpuUsage();
    status = (await post()).status;
    const d = process.cpuUsage(before);
    if (i > 0) {
      samples.push((d.user + d.system) / 1000);
      windows.push([at, performance.now()]);
    }
  }
  // The observer is told of pauses a task later.
  await new Promise((r) => setTimeout(r, 10));
  const gc = windows.map(([from, to]) => pauses.reduce((sum, [s, ms]) => (s >= from && s < to ? sum + ms : sum), 0));
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { ms: median(samples), mean, min: Math.min(...samples), gc: median(gc), status };
}

const adapter = await runAdapter({
  name: 'bench',
  command: process.execPath,
  args: [FIXTURE],
  logger: pino({ level: 'silent' }),
  maxBodyBytes: 5 * MIB,
  pingIntervalMs: 0,
});
await adapter.whenReady();
const lines = [
  '| body kind | 1 MiB: CPU ms | 4 MiB: CPU ms | 4 MiB: mean ms | 4 MiB: fastest run ms | 4 MiB: collector pauses ms | 4 MiB / 1 MiB | answer |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
];
try {
  for (const kind of KINDS.filter((k) => values.kind === undefined || k.name.includes(values.kind))) {
    const one = await cpuOf(adapter.port, kind.body(MIB));
    const four = await cpuOf(adapter.port, kind.body(4 * MIB));
    lines.push(
      `| ${kind.name} | ${one.ms.toFixed(1)} | ${four.ms.toFixed(1)} | ${four.mean.toFixed(1)} | ${four.min.toFixed(1)} | ${four.gc.toFixed(1)} | ${(four.ms / one.ms).toFixed(1)} | ${four.status} |`,
    );
    process.stderr.write(`${lines[lines.length - 1]}\n`);
  }
  if (values.kind !== undefined) throw new Done();
  // A 4 MiB answer from the server (the large-line path), for the same measure.
  const big = (kb: number) =>
    Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","arguments":{"kb":${kb}},"_meta":{${META}}}}`);
  const a1 = await cpuOf(adapter.port, big(1024), 'big');
  const a4 = await cpuOf(adapter.port, big(4096), 'big');
  lines.push(
    `| a server answer (tools/call result) | ${a1.ms.toFixed(1)} | ${a4.ms.toFixed(1)} | ${a4.mean.toFixed(1)} | ${a4.min.toFixed(1)} | ${a4.gc.toFixed(1)} | ${(a4.ms / a1.ms).toFixed(1)} | ${a4.status} |`,
  );
  // Resident memory for one large valid answer, sampled every 5 ms.
  const mb = Number(values['answer-mb']);
  collect();
  await new Promise((r) => setTimeout(r, 200));
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  await load(adapter.port, big(mb * 1024), 'big');
  const r = await post();
  clearInterval(sampler);
  lines.push(
    '',
    `One ${mb} MiB answer (${(r.bytes / MIB).toFixed(1)} MiB received, status ${r.status}): resident set ${(base / MIB).toFixed(0)} → peak ${(peak / MIB).toFixed(0)} MiB (+${((peak - base) / MIB).toFixed(0)} MiB, ${((peak - base) / (mb * MIB)).toFixed(1)}× the answer).`,
  );
} catch (err) {
  if (!(err instanceof Done)) throw err;
} finally {
  await adapter.shutdown();
  client.disconnect();
  gcObserver.disconnect();
}
process.stdout.write(`${lines.join('\n')}\n`);
