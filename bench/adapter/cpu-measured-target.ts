// An MCP endpoint in a process group of its own, for the benches that read a
// call's CPU by process: started detached and waited for, measured around one
// load run (bench/adapter/load.ts) from /proc, and killed with its children.
import { type ChildProcess, spawn } from 'node:child_process';
import { treeProcesses } from '../process-cpu.js';
import { type HttpLoadOptions, type LoadResult, runHttp, waitServing } from './load.js';

export interface CpuMeasuredTarget {
  readonly url: string;
  readonly child: ChildProcess;
}

/** Runs `node ARGS` detached and waits until `url` answers initialize; its stderr's tail goes into the error. */
export async function startCpuMeasuredTarget(args: readonly string[], url: string, label: string): Promise<CpuMeasuredTarget> {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, MCPMESH_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  try {
    await waitServing(url, 30_000);
  } catch (err) {
    stopCpuMeasuredTarget(child);
    throw new Error(`${label}: ${(err as Error).message}\n${stderr}`);
  }
  return { url, child };
}

/** Kills the target's whole process group (its stdio servers too). */
export function stopCpuMeasuredTarget(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // gone
  }
}

export interface CpuSample {
  readonly r: LoadResult;
  /** µs of CPU per call of the target's own process, and of its children together. */
  readonly rootUs: number;
  readonly childrenUs: number;
}

/** CPU ms of the root process and of every process below it. */
function cpuNow(t: CpuMeasuredTarget): { root: number; children: number } {
  let root = 0;
  let children = 0;
  for (const p of treeProcesses([t.child.pid!])) {
    if (p.pid === t.child.pid) root += p.cpuMs;
    else children += p.cpuMs;
  }
  return { root, children };
}

/** One closed-loop run of `clients` 2025-era clients in one session, with the CPU per call it cost. */
export async function measureCpuPerCall(
  t: CpuMeasuredTarget,
  clients: number,
  phase: { readonly warmupMs: number; readonly measureMs: number },
  call: { name: string; arguments: object; expect: string },
  opts: HttpLoadOptions = {},
): Promise<CpuSample> {
  let before = { root: 0, children: 0 };
  let after = { root: 0, children: 0 };
  const r = await runHttp(
    t.url,
    '2025',
    clients,
    { ...phase, onMeasureStart: () => (before = cpuNow(t)), onMeasureEnd: () => (after = cpuNow(t)) },
    call,
    { sharedSession: true, ...opts },
  );
  const n = Math.max(1, r.calls + r.errors);
  return { r, rootUs: ((after.root - before.root) * 1000) / n, childrenUs: ((after.children - before.children) * 1000) / n };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
