// The adapter's HTTP stack against the floor under it: what a bare MCP echo
// endpoint costs on node:http (the stack the adapter is built on), what the
// same endpoint costs on uWebSockets (the one faster HTTP stack for Node), and
// what the adapter costs (pool 1 over server-everything, `echo`), all driven
// by the same load generator (bench/adapter/load.ts: 2025-era session, raw
// keep-alive sockets) at 1 and 16 clients in one session, rounds alternating.
// CPU per call is read from /proc for the HTTP process (for the adapter, its
// stdio server apart), so the rows say how much of the adapter's cost is
// node:http's own and how much another stack would take away.
//
// uWebSockets.js is not published on the npm registry by its authors (they
// ship it from GitHub); the registry holds republished builds only. The row
// runs when one is installed OUTSIDE the repository, e.g.
//   npm install --prefix ~/.cache/mcpmesh/probes uwebsockets@3.0.6
// and is skipped with a note otherwise. It is a measurement, never a dependency.
//
//   npx tsc -p . && node dist/bench/adapter/http-stack-floor.js [--rounds 3] [--measure 3s] [--clients 1,16] [--uws DIR]

import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, homedir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../lib/duration.js';
import { freePort } from '../../test/support/ports.js';
import { measureCpuPerCall, median, startCpuMeasuredTarget, stopCpuMeasuredTarget } from './cpu-measured-target.js';
import type { LoadResult } from './load.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const ECHO = join(root, 'dist/bench/gateway/echo-upstream.js');
const CALL = { name: 'echo', arguments: { message: 'hello mcpmesh' }, expect: 'Echo: hello mcpmesh' };
const DEFAULT_UWS = join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache/mcpmesh'), 'probes');

const { values } = parseArgs({
  options: {
    measure: { type: 'string', default: '3s' },
    warmup: { type: 'string', default: '1s' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '1,16' },
    uws: { type: 'string', default: DEFAULT_UWS },
  },
});
const warmupMs = parseDuration(values.warmup!) ?? 1000;
const measureMs = parseDuration(values.measure!) ?? 3000;
const rounds = Math.max(1, Number(values.rounds));
const clientCounts = values.clients!.split(',').map(Number);
const uwsDir = values.uws!;
const haveUws = existsSync(join(uwsDir, 'node_modules/uwebsockets/package.json'));

interface Row {
  readonly key: string;
  readonly label: string;
  args(port: number): string[];
}

const ROWS: Row[] = [
  { key: 'node-http', label: 'bare echo endpoint, node:http', args: (p) => [ECHO, '--port', String(p)] },
  ...(haveUws
    ? [{ key: 'uws', label: 'bare echo endpoint, uWebSockets', args: (p: number) => [ECHO, '--port', String(p), '--uws', uwsDir] }]
    : []),
  {
    key: 'adapter',
    label: 'mcpmesh adapter (pool 1, server-everything)',
    args: (p) => [
      join(root, 'dist/test/fixtures/run-adapter.js'),
      '--name',
      'everything',
      '--port',
      String(p),
      '--pool',
      '1',
      '--',
      process.execPath,
      SERVER,
      'stdio',
    ],
  },
];

interface Target {
  readonly row: Row;
  readonly url: string;
  readonly child: ChildProcess;
}

async function start(row: Row): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const { child } = await startCpuMeasuredTarget(row.args(port), url, row.label);
  return { row, url, child };
}

interface Sample {
  readonly r: LoadResult;
  readonly httpUs: number;
  readonly serverUs: number;
}

async function measure(t: Target, clients: number): Promise<Sample> {
  const s = await measureCpuPerCall(t, clients, { warmupMs, measureMs }, CALL);
  return { r: s.r, httpUs: s.rootUs, serverUs: s.childrenUs };
}

const fmt = (xs: number[], digits = 1) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  const started = new Date().toISOString().slice(0, 16);
  if (!haveUws) console.error(`uWebSockets not found under ${uwsDir}: its row is skipped (see this file's header)`);
  const targets: Target[] = [];
  for (const row of ROWS) targets.push(await start(row));
  const samples = new Map<string, Sample[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      // The order turns every round, so no row always follows the same one.
      const order = round % 2 ? [...targets].reverse() : targets;
      for (const clients of clientCounts) {
        for (const t of order) {
          const s = await measure(t, clients);
          const key = `${t.row.key}@${clients}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          console.error(
            `[${round + 1}/${rounds}] ${t.row.label.padEnd(46)} c=${String(clients).padStart(2)} ${Math.round(s.r.calls / s.r.seconds)
              .toString()
              .padStart(6)} calls/s ` +
              `p50 ${s.r.p50Ms.toFixed(3)} ms  http ${s.httpUs.toFixed(1)} µs/call  server ${s.serverUs.toFixed(1)} µs/call  errors ${s.r.errors}`,
          );
        }
      }
    }
  } finally {
    for (const t of targets) stopCpuMeasuredTarget(t.child);
  }
  console.log(`Command: \`node dist/bench/adapter/http-stack-floor.js ${process.argv.slice(2).join(' ')}\``.replace(' `', '`'));
  console.log(
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; ${started}Z, load average ${load0.toFixed(1)} at the start, ` +
      `${loadavg()[0]!.toFixed(1)} at the end; warmup ${warmupMs} ms, measured ${measureMs} ms per cell, ${rounds} rounds alternating; medians (range).`,
  );
  console.log('');
  console.log('| row | clients | calls/s | p50 ms | HTTP process µs/call | its stdio server µs/call |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const clients of clientCounts) {
    for (const row of ROWS) {
      const s = samples.get(`${row.key}@${clients}`) ?? [];
      if (s.length === 0) continue;
      const server = row.key === 'adapter' ? fmt(s.map((x) => x.serverUs)) : '—';
      console.log(
        `| ${row.label} | ${clients} | ${fmt(
          s.map((x) => x.r.calls / x.r.seconds),
          0,
        )} | ${median(s.map((x) => x.r.p50Ms)).toFixed(3)} | ${fmt(s.map((x) => x.httpUs))} | ${server} |`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
