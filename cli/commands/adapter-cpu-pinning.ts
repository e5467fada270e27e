// `mcpmesh up --pin-adapters`: each stdio adapter runs on one CPU together with
// its pool of servers (they inherit the CPU set). The adapter and its servers
// exchange every call over a pipe; left to the scheduler on a small host they
// wake each other across CPUs and run on caches Envoy has used, and a 2-core host
// served 18–22% fewer calls at 16 clients than with the pair on one CPU
// (bench/RESULTS.md, "Where a call waits at 16 clients through Envoy"). Off by
// default: one CPU per adapter caps a busy pool of several servers at one core.
import { spawnSync } from 'node:child_process';

/** The CPU of each of `count` adapters, round-robin over `cpus` (Envoy and the control plane stay free). */
export function adapterCpus(count: number, cpus: number): number[] {
  if (!Number.isInteger(cpus) || cpus < 1) throw new Error(`adapterCpus: cpus must be a positive integer, got ${cpus}`);
  return Array.from({ length: count }, (_, i) => i % cpus);
}

/** `argv` run under `taskset -c CPU`, which execs it: the process keeps the pid `up` supervises. */
export function pinnedArgv(argv: readonly string[], cpu: number, taskset = 'taskset'): string[] {
  return [taskset, '-c', String(cpu), ...argv];
}

/** Throws a clear error when `taskset` (util-linux) cannot run here. */
export function requireTaskset(taskset = 'taskset'): void {
  const r = spawnSync(taskset, ['--version'], { stdio: 'ignore' });
  if (r.error !== undefined || r.status !== 0)
    throw new Error(`--pin-adapters runs each adapter under \`${taskset} -c CPU\`, and ${taskset} cannot run here (install util-linux)`);
}
