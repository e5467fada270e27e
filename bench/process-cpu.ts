// CPU time of process trees, read from Linux /proc, for benches that put a
// cost per call on each process of a path (Envoy, the adapter, a collector).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);

function processTable(): Map<number, { ppid: number; comm: string; ticks: number }> {
  const out = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const f = s.slice(close + 2).split(' ');
      out.set(Number(d), { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * A node process by what it runs: `up`, `adapter` or `control-plane` for
 * mcpmesh's own commands, `server` for an MCP server script, else `node`.
 * Every process of the Envoy path is `node` by its command name.
 */
export function nodeRole(pid: number, comm: string): string {
  if (comm !== 'node') return comm;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return comm;
  }
  const cli = argv.findIndex((a) => a.endsWith('/mcpmesh.js') || a.endsWith('/run-adapter.js'));
  if (cli >= 0) return argv[cli]!.endsWith('/run-adapter.js') ? 'adapter' : (argv[cli + 1] ?? 'mcpmesh');
  return argv.some((a) => a.includes('server-')) ? 'server' : comm;
}

/** CPU milliseconds used so far by the processes under `roots`, by command name (or by `name`). */
export function treeCpu(roots: readonly number[], name: (pid: number, comm: string) => string = (_, comm) => comm): Map<string, number> {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out = new Map<string, number>();
  const seen = new Set<number>();
  const walk = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const p = table.get(pid);
    if (p) {
      const k = name(pid, p.comm);
      out.set(k, (out.get(k) ?? 0) + p.ticks * TICK_MS);
    }
    for (const c of children.get(pid) ?? []) walk(c);
  };
  for (const r of roots) walk(r);
  return out;
}

/** Each process under `roots` (the roots first), with its CPU milliseconds so far. */
export function treeProcesses(roots: readonly number[]): Array<{ pid: number; ppid: number; comm: string; cpuMs: number }> {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out: Array<{ pid: number; ppid: number; comm: string; cpuMs: number }> = [];
  const seen = new Set<number>();
  const walk = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const p = table.get(pid);
    if (p) out.push({ pid, ppid: p.ppid, comm: p.comm, cpuMs: p.ticks * TICK_MS });
    for (const c of children.get(pid) ?? []) walk(c);
  };
  for (const r of roots) walk(r);
  return out;
}

/** CPU milliseconds of everything under `roots`. */
export function treeCpuTotal(roots: readonly number[]): number {
  let sum = 0;
  for (const ms of treeCpu(roots).values()) sum += ms;
  return sum;
}

/** CPU nanoseconds used so far by every live thread of `pid` (/proc schedstat: not rounded to the clock tick). */
function threadsCpuNs(pid: number): number {
  let sum = 0;
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // gone
    }
  }
  return sum;
}

/**
 * CPU milliseconds of everything under `roots`, to the nanosecond the kernel
 * accounts (treeCpuTotal counts clock ticks of 10 ms, too coarse for a few µs
 * over a thousand calls). Threads that have exited no longer count: use it for
 * the difference over a window in which the processes keep their threads.
 */
export function treeCpuPreciseMs(roots: readonly number[]): number {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let ns = 0;
  const seen = new Set<number>();
  const walk = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    if (table.has(pid)) ns += threadsCpuNs(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  for (const r of roots) walk(r);
  return ns / 1e6;
}

/** This process's CPU ms for `f`, the median of 11 calls after 3 warm-ups (user + system). */
export function medianCpuMs(f: () => unknown): number {
  const xs: number[] = [];
  for (let i = 0; i < 14; i++) {
    const before = process.cpuUsage();
    f();
    const d = process.cpuUsage(before);
    if (i >= 3) xs.push((d.user + d.system) / 1000);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}
