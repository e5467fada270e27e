// The adapter's CPU per call, by process: the adapter and the stdio server it
// pools (@modelcontextprotocol/server-everything, `echo`), at 1 and 16
// closed-loop clients on one 2025-era session, read from /proc around the
// measured phase. CPU per call is what a shared machine still measures well
// when throughput and latency do not (other tenants take the cores, not the
// cycles a call costs).
//
// Variants:
//   plain  `mcpmesh adapter --pool 1` as the adapter bench runs it;
//   up     the flags `mcpmesh up` gives its adapters (a key-ring file, a
//          directory session store, `--trusted-proxies` loopback) and the
//          headers Envoy sends (X-Forwarded-For, X-Request-Id, x-envoy-*):
//          the adapter's share of the path through Envoy, without Envoy.
// --baseline DIR (another checkout, built) runs the same cells with that
// build, each beside this build's in the alternation: before and after in
// one run. A baseline without the `up` flags gets the plain variant only.
// --node-args gives this build's adapter node flags (with --baseline being this
// tree: what a runtime flag alone changes).
//
// Run: npx tsc -p . && [taskset -c 1] node dist/bench/adapter/cpu-per-call.js
//        [--rounds 3] [--measure 3s] [--variant plain,up] [--clients 1,16] [--baseline DIR] [--node-args '...']
// (taskset around the whole command pins the load, the adapter and the server to one vCPU.)

import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureKeyFile } from '../../adapter/sessions/session-keys.js';
import { parseDuration } from '../../lib/duration.js';
import { freePort } from '../../test/support/ports.js';
import { measureCpuPerCall, median, startCpuMeasuredTarget, stopCpuMeasuredTarget } from './cpu-measured-target.js';
import type { LoadResult } from './load.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CALL = { name: 'echo', arguments: { message: 'hello mcpmesh' }, expect: 'Echo: hello mcpmesh' };

const { values } = parseArgs({
  options: {
    measure: { type: 'string', default: '3s' },
    warmup: { type: 'string', default: '1s' },
    rounds: { type: 'string', default: '3' },
    variant: { type: 'string', default: 'plain,up' },
    clients: { type: 'string', default: '1,16' },
    baseline: { type: 'string' },
    'node-args': { type: 'string' },
  },
});
const warmupMs = parseDuration(values.warmup!) ?? 1000;
const measureMs = parseDuration(values.measure!) ?? 3000;
const rounds = Math.max(1, Number(values.rounds));
const variants = values.variant!.split(',').map((v) => v.trim());
for (const v of variants) if (v !== 'plain' && v !== 'up') throw new Error(`--variant: plain or up, not ${v}`);
const clientCounts = values.clients!.split(',').map(Number);

/** What Envoy adds to a request it sends an adapter (as read off the wire from `mcpmesh up`'s Envoy). */
function envoyHeaders(): Record<string, string> {
  return {
    'x-forwarded-for': '192.0.2.2',
    'x-forwarded-proto': 'http',
    'x-envoy-external-address': '127.0.0.1',
    'x-request-id': randomUUID(),
    'x-envoy-attempt-count': '1',
    'x-envoy-original-path': '/mcp/everything',
  };
}

interface Target {
  readonly label: string;
  readonly variant: string;
  readonly url: string;
  readonly child: ChildProcess;
}

const scratch = mkdtempSync(join(tmpdir(), 'mcpmesh-cpu-per-call-'));

async function startTarget(tree: string, label: string, variant: string): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const upFlags: string[] = [];
  if (variant === 'up') {
    const dir = mkdtempSync(join(scratch, 'up-'));
    const keys = join(dir, 'session-keys.json');
    await ensureKeyFile(keys);
    upFlags.push(
      '--host',
      '127.0.0.1',
      '--session-keys-file',
      keys,
      '--session-store-dir',
      join(dir, 'sessions'),
      '--trusted-proxies',
      '127.0.0.1,::1',
    );
  }
  const nodeArgs = label === 'this build' && values['node-args'] !== undefined ? values['node-args'].split(' ').filter(Boolean) : [];
  const args = [
    ...nodeArgs,
    join(tree, 'dist/test/fixtures/run-adapter.js'),
    '--name',
    'everything',
    '--port',
    String(port),
    '--pool',
    '1',
    ...upFlags,
    '--',
    process.execPath,
    SERVER,
    'stdio',
  ];
  const { child } = await startCpuMeasuredTarget(args, url, `${label} (${variant})`);
  return { label, variant, url, child };
}

interface Sample {
  readonly r: LoadResult;
  readonly adapterUs: number;
  readonly serverUs: number;
}

async function measure(t: Target, clients: number): Promise<Sample> {
  const s = await measureCpuPerCall(t, clients, { warmupMs, measureMs }, CALL, t.variant === 'up' ? { extraHeaders: envoyHeaders() } : {});
  return { r: s.r, adapterUs: s.rootUs, serverUs: s.childrenUs };
}

function hasUpFlags(tree: string): boolean {
  const help = spawnSync(process.execPath, [join(tree, 'dist/cli/mcpmesh.js'), 'adapter', '--help'], { encoding: 'utf8' });
  return `${help.stdout}${help.stderr}`.includes('--trusted-proxies');
}

const trees: Array<{ dir: string; label: string }> = [{ dir: root, label: 'this build' }];
if (values.baseline !== undefined) trees.unshift({ dir: resolve(values.baseline), label: 'baseline' });
const targets: Target[] = [];
const load0 = loadavg()[0]!;
const started = new Date();
const cells = new Map<string, Sample[]>();
try {
  for (const v of variants)
    for (const tree of trees) {
      if (v === 'up' && !hasUpFlags(tree.dir)) {
        process.stderr.write(`${tree.label}: no --trusted-proxies in this build, variant up skipped\n`);
        continue;
      }
      targets.push(await startTarget(tree.dir, tree.label, v));
    }
  for (let round = 1; round <= rounds; round++) {
    for (const clients of clientCounts) {
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const t of order) {
        const s = await measure(t, clients);
        const key = `${t.variant}|${t.label}|${clients}`;
        cells.set(key, [...(cells.get(key) ?? []), s]);
        process.stderr.write(
          `[${round}/${rounds}] ${t.variant.padEnd(5)} ${t.label.padEnd(10)} c=${String(clients).padStart(2)} ${(s.r.calls / s.r.seconds).toFixed(0).padStart(6)} calls/s p50 ${s.r.p50Ms.toFixed(3)} ms  adapter ${s.adapterUs.toFixed(1)} µs/call  server ${s.serverUs.toFixed(1)} µs/call  errors ${s.r.errors}${s.r.firstError ? ` (${s.r.firstError.slice(0, 100)})` : ''}\n`,
        );
      }
    }
  }
} finally {
  for (const t of targets) stopCpuMeasuredTarget(t.child);
  rmSync(scratch, { recursive: true, force: true });
}

const lines = [
  `Command: \`node dist/bench/adapter/cpu-per-call.js ${process.argv.slice(2).join(' ')}\``.replace(' `', '`'),
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; ${started.toISOString().slice(0, 16)}Z, load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end; warmup ${warmupMs} ms, measured ${measureMs} ms per cell, ${rounds} rounds alternating; medians (range).`,
  '',
  '| variant | build | clients | calls/s | p50 ms | adapter µs/call | server µs/call |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
];
const range = (xs: number[], digits: number) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
for (const [key, ss] of cells) {
  const [variant, label, clients] = key.split('|');
  lines.push(
    `| ${variant} | ${label} | ${clients} | ${range(
      ss.map((s) => s.r.calls / s.r.seconds),
      0,
    )} | ${median(ss.map((s) => s.r.p50Ms)).toFixed(3)} | ${range(
      ss.map((s) => s.adapterUs),
      1,
    )} | ${range(
      ss.map((s) => s.serverUs),
      1,
    )} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
