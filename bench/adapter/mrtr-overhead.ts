// What the multi round-trip bridge costs over a 2025-era session's
// elicitation: the same `elicit` tool of the same fixture server, behind one
// real Envoy and three adapter replicas (pool 2 each, one shared key ring),
// asked by the SDK 1.x client in a 2025-era session (the server's request
// comes on the call's SSE stream, the answer is a POST in the session) and by
// the v2 client at 2026-07-28 (input_required, then the retry with
// inputResponses, forwarded to the holder when Envoy sends it elsewhere).
// `echo` in both generations is the baseline of a call that asks nothing.
// Variants alternate call by call, in a new order each round; latency is per
// tool call, from callTool to its result, with the client's handler answering
// at once.
//
// Run: npx tsc -p . && node dist/bench/adapter/mrtr-overhead.js [--rounds 5] [--calls 200] [--replicas 3]
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { newKeyRingJson } from '../../adapter/sessions/session-keys.js';
import { type Mesh, startMesh } from '../../test/support/mesh.js';
import { until } from '../../test/support/wait.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const RUN_ADAPTER = join(root, 'dist/test/fixtures/run-adapter.js');
const FIXTURE = join(root, 'dist/test/fixtures/stdio-server.js');

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '30' },
    replicas: { type: 'string', default: '3' },
  },
});
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);
const WARMUP = Number(values.warmup);
const REPLICAS = Number(values.replicas);

async function startReplica(ring: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [RUN_ADAPTER, '--name', 'bench', '--port', '0', '--pool', '2', '--', process.execPath, FIXTURE], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn', MCPMESH_SESSION_KEYS: ring },
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => /listening on (\S+)/.test(out), 'the adapter listening', 15_000);
  return { child, url: /listening on (\S+)/.exec(out)![1]! };
}

async function fleetCounter(urls: readonly string[], name: string): Promise<number> {
  let sum = 0;
  for (const u of urls) {
    const text = await (await fetch(u.replace(/\/mcp$/, '/metrics'))).text();
    for (const l of text.split('\n')) if (l.startsWith(`${name}{`)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface Variant {
  readonly name: string;
  call(i: number): Promise<string>;
  readonly expect: (i: number) => string;
  readonly samples: number[];
}

function textOf(r: unknown): string {
  const c = (r as { content?: Array<{ type: string; text?: string }> }).content;
  return c?.find((b) => b.type === 'text')?.text ?? '';
}

function quantile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

async function main(): Promise<void> {
  const ring = JSON.stringify(newKeyRingJson());
  const replicas = await Promise.all(Array.from({ length: REPLICAS }, () => startReplica(ring)));
  const urls = replicas.map((r) => r.url);
  let mesh: Mesh | undefined;
  try {
    mesh = await startMesh({ config: { servers: [{ name: 'bench', replicas: urls }] } });
    const url = new URL(mesh.agentUrl('bench'));
    const legacy = new ClientV1({ name: 'bench-2025', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    legacy.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { answer: 'yes' } }));
    await until(
      async () => {
        try {
          await legacy.connect(new TransportV1(url));
          return true;
        } catch {
          return false;
        }
      },
      'the mesh serving',
      20_000,
      200,
    );
    const modern = new ClientV2(
      { name: 'bench-2026', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: { form: {} } } },
    );
    modern.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { answer: 'yes' } }));
    await modern.connect(new TransportV2(url));
    const elicited = () => 'accept: {"answer":"yes"}';
    const variants: Variant[] = [
      {
        name: '2025 session, elicit',
        call: async (i) => textOf(await legacy.callTool({ name: 'elicit', arguments: { question: `q${i}` } })),
        expect: elicited,
        samples: [],
      },
      {
        name: '2026-07-28 MRTR, elicit',
        call: async (i) => textOf(await modern.callTool({ name: 'elicit', arguments: { question: `q${i}` } })),
        expect: elicited,
        samples: [],
      },
      {
        name: '2025 session, echo',
        call: async (i) => textOf(await legacy.callTool({ name: 'echo', arguments: { text: `t${i}` } })),
        expect: (i) => `echo: t${i}`,
        samples: [],
      },
      {
        name: '2026-07-28, echo',
        call: async (i) => textOf(await modern.callTool({ name: 'echo', arguments: { text: `t${i}` } })),
        expect: (i) => `echo: t${i}`,
        samples: [],
      },
    ];
    for (let i = 0; i < WARMUP; i++) for (const v of variants) await v.call(i);
    const forwardedBefore = await fleetCounter(urls, 'mcpmesh_adapter_mrtr_forwarded_total');
    const roundsBefore = await fleetCounter(urls, 'mcpmesh_adapter_mrtr_rounds_total');
    const started = performance.now();
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < CALLS; i++) {
        for (const v of shuffle([...variants])) {
          const t0 = performance.now();
          const got = await v.call(i);
          const ms = performance.now() - t0;
          if (got !== v.expect(i)) throw new Error(`${v.name}: ${got}`);
          v.samples.push(ms);
        }
      }
      process.stderr.write(`round ${r + 1}/${ROUNDS}\n`);
    }
    const seconds = (performance.now() - started) / 1000;
    const forwarded = (await fleetCounter(urls, 'mcpmesh_adapter_mrtr_forwarded_total')) - forwardedBefore;
    const asked = (await fleetCounter(urls, 'mcpmesh_adapter_mrtr_rounds_total')) - roundsBefore;
    const base = variants[0]!;
    const lines = [
      `| variant | calls | p50 ms | p90 ms | p99 ms | mean ms | p50 vs 2025 elicit |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
    for (const v of variants) {
      const mean = v.samples.reduce((a, b) => a + b, 0) / v.samples.length;
      const d = quantile(v.samples, 0.5) - quantile(base.samples, 0.5);
      lines.push(
        `| ${v.name} | ${v.samples.length} | ${quantile(v.samples, 0.5).toFixed(2)} | ${quantile(v.samples, 0.9).toFixed(2)} | ${quantile(v.samples, 0.99).toFixed(2)} | ${mean.toFixed(2)} | ${v === base ? '' : `${d >= 0 ? '+' : ''}${d.toFixed(2)}`} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
    if (process.env['MRTR_BENCH_DECILES'])
      for (const v of variants)
        process.stdout.write(
          `${v.name}: ${[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((p) => quantile(v.samples, p).toFixed(1)).join(' ')}\n`,
        );
    process.stdout.write(
      `MRTR rounds asked: ${asked}; retries forwarded to their holder: ${forwarded} (${((100 * forwarded) / Math.max(1, asked)).toFixed(0)}%); ${seconds.toFixed(1)} s\n`,
    );
    await legacy.close();
    await modern.close();
  } finally {
    await mesh?.stop();
    for (const r of replicas) r.child.kill('SIGKILL');
  }
}

await main();
