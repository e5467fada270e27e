// Adapter throughput, side by side in one run: the same stdio server
// (@modelcontextprotocol/server-everything, its echo tool) driven directly
// over stdio (the limit), behind the mcpmesh adapter (both protocol
// generations, pool of 1 and 2), behind supergateway (--stateful
// streamableHttp) and behind mcp-proxy, at 1 and 16 concurrent clients.
//
// Baselines are not project dependencies: install them outside the repo,
//   mkdir -p /tmp/bench-tools && cd /tmp/bench-tools && npm install supergateway mcp-proxy
// and point BENCH_TOOLS at that folder (default /tmp/bench-tools). Missing
// baselines are skipped and said so.
//
// Run: npx tsc -p . && node dist/bench/adapter/throughput.js [--measure 4s] [--write]
// (--write replaces the table of the "Adapter throughput" section of bench/RESULTS.md, not its subsections)

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../lib/duration.js';
import { freePort } from '../../test/support/ports.js';
import { mcpProxyArgs, supergatewayArgs } from '../peer-commands.js';
import { type HttpEra, type LoadResult, type Phase, runHttp, StdioDriver, waitServing } from './load.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const RUN_ADAPTER = join(root, 'dist/test/fixtures/run-adapter.js');
const TOOLS = process.env['BENCH_TOOLS'] ?? '/tmp/bench-tools';
const CALL = { name: 'echo', arguments: { message: 'hello mcpmesh' }, expect: 'Echo: hello mcpmesh' };

const { values } = parseArgs({
  options: {
    measure: { type: 'string', default: '4s' },
    warmup: { type: 'string', default: '1s' },
    write: { type: 'boolean', default: false },
  },
});
const phase: Phase = { warmupMs: parseDuration(values.warmup!) ?? 1000, measureMs: parseDuration(values.measure!) ?? 4000 };

interface Row {
  readonly target: string;
  readonly clients: number;
  readonly r: LoadResult;
}

const rows: Row[] = [];
const notes: string[] = [];

function show(row: Row): void {
  const { r } = row;
  rows.push(row);
  process.stderr.write(
    `${row.target.padEnd(40)} c=${String(row.clients).padStart(2)}  ${(r.calls / r.seconds).toFixed(0).padStart(7)} calls/s  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}\n`,
  );
}

async function withProcess(command: string, args: string[], url: string, fn: () => Promise<void>): Promise<void> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  try {
    await waitServing(url, 30_000);
    await fn();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${stderr}`);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // gone already
    }
    await new Promise((r) => setTimeout(r, 300));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function direct(): Promise<void> {
  for (const c of [1, 16]) {
    const d = new StdioDriver(process.execPath, [SERVER, 'stdio']);
    await d.initialize();
    show({ target: 'direct stdio (limit)', clients: c, r: await d.run(c, phase, CALL) });
    d.stop();
  }
}

async function adapter(pool: number, eras: HttpEra[]): Promise<void> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  await withProcess(
    process.execPath,
    [RUN_ADAPTER, '--name', 'everything', '--port', String(port), '--pool', String(pool), '--', process.execPath, SERVER, 'stdio'],
    url,
    async () => {
      for (const era of eras)
        for (const c of [1, 16])
          show({ target: `mcpmesh adapter, pool ${pool}, ${era}`, clients: c, r: await runHttp(url, era, c, phase, CALL) });
    },
  );
}

async function supergateway(): Promise<void> {
  const bin = join(TOOLS, 'node_modules/.bin/supergateway');
  if (!existsSync(bin)) {
    notes.push(`supergateway not found in ${TOOLS}: skipped`);
    return;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  await withProcess(bin, supergatewayArgs(`${process.execPath} ${SERVER} stdio`, port), url, async () => {
    for (const c of [1, 16]) show({ target: 'supergateway --stateful, 2025', clients: c, r: await runHttp(url, '2025', c, phase, CALL) });
  });
}

async function mcpProxy(): Promise<void> {
  const bin = join(TOOLS, 'node_modules/.bin/mcp-proxy');
  if (!existsSync(bin)) {
    notes.push(`mcp-proxy not found in ${TOOLS}: skipped`);
    return;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  await withProcess(bin, mcpProxyArgs([process.execPath, SERVER, 'stdio'], port), url, async () => {
    for (const c of [1, 16]) show({ target: 'mcp-proxy, 2025', clients: c, r: await runHttp(url, '2025', c, phase, CALL) });
  });
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(TOOLS, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function table(): string {
  const directRow = (c: number) => rows.find((r) => r.target.startsWith('direct') && r.clients === c)?.r;
  const lines = [
    '| target | clients | calls/s | p50 ms | p99 ms | p50 over direct stdio | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { target, clients, r } of rows) {
    const base = directRow(clients);
    const over = base && !target.startsWith('direct') ? `${(r.p50Ms - base.p50Ms).toFixed(3)} ms` : '';
    lines.push(
      `| ${target} | ${clients} | ${(r.calls / r.seconds).toFixed(0)} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${over} | ${r.errors} |`,
    );
  }
  return lines.join('\n');
}

function writeSection(text: string): void {
  const file = join(root, 'bench/RESULTS.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const heading = '## Adapter throughput';
  const start = current.indexOf(heading);
  let next: string;
  if (start < 0) next = `${current.trimEnd()}\n\n${text}\n`;
  else {
    // The table only: the section's own subsections (### …, other runs) stay.
    const ends = ['\n## ', '\n### '].map((h) => current.indexOf(h, start + heading.length)).filter((i) => i >= 0);
    const after = ends.length > 0 ? Math.min(...ends) : -1;
    next = current.slice(0, start) + text + (after < 0 ? '\n' : `\n${current.slice(after + 1)}`);
  }
  writeFileSync(file, next);
}

await direct();
await adapter(1, ['2026', '2025']);
await adapter(2, ['2026', '2025']);
await supergateway();
await mcpProxy();

const best = (pred: (t: string) => boolean, c: number) =>
  Math.max(0, ...rows.filter((r) => pred(r.target) && r.clients === c).map((r) => r.r.calls / r.r.seconds));
const baseline = best((t) => t.startsWith('supergateway') || t.startsWith('mcp-proxy'), 16);
const ours = best((t) => t.startsWith('mcpmesh'), 16);
const summary = [
  `Command: \`node dist/bench/adapter/throughput.js --write\` (baselines installed outside the repo as the header of bench/adapter/throughput.ts says; BENCH_TOOLS=${TOOLS}).`,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; warmup ${phase.warmupMs} ms, measured ${phase.measureMs} ms per row; closed-loop clients (each sends its next call on the previous answer).`,
  `Server: @modelcontextprotocol/server-everything (stdio), tool \`echo\`. Baselines: supergateway ${version('supergateway')}, mcp-proxy ${version('mcp-proxy')} (default options, 2025-era sessions: one per client).`,
  baseline > 0
    ? `At 16 clients the adapter's best is ${(ours / baseline).toFixed(1)}× the better baseline (${ours.toFixed(0)} vs ${baseline.toFixed(0)} calls/s).`
    : 'No baseline measured.',
  ...notes,
];
const section = `## Adapter throughput\n\n${summary.join('\n')}\n\n${table()}\n`;
process.stdout.write(section);
if (values.write) writeSection(section);
