// Tells a server process killed by the kernel's OOM killer from one killed by
// someone: both end with SIGKILL, but the first is the process's own doing (a
// request that makes it allocate without bound is a query of death), the
// second is not. The kernel counts its OOM kills per memory cgroup; the
// adapter and its server processes share one, so every OOM kill counted
// there killed one of them (or, with `mcpmesh up`, a sibling: the count is
// taken afresh when a process starts). A SIGKILL exit while the count has
// risen past what earlier exits took is an OOM kill (one count per exit).
//
// Where the count is read, the first that exists:
//  - cgroup v2: `oom_kill` in memory.events of this process's cgroup
//    (/proc/self/cgroup `0::PATH`), or of the namespace's root;
//  - cgroup v1: `oom_kill` in memory.oom_control of the memory cgroup
//    (`N:memory:PATH`), or of the mount's root;
//  - /proc/vmstat `oom_kill`: the whole host, so an OOM kill elsewhere at the
//    same moment could be taken for ours; used only without a cgroup count.
import { readFileSync } from 'node:fs';

/** The current OOM-kill count, or undefined when it cannot be read. */
export type OomCount = () => number | undefined;

/** The `oom_kill N` line of a memory.events, memory.oom_control or /proc/vmstat text. */
export function parseOomKills(text: string): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
}

function readCount(path: string): number | undefined {
  try {
    return parseOomKills(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Candidate files, most precise first, from /proc/self/cgroup's text. */
export function oomCountFiles(procSelfCgroup: string, root = '/sys/fs/cgroup'): string[] {
  const files: string[] = [];
  for (const line of procSelfCgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (path === undefined || path.includes('..')) continue;
    if (controllers === '') files.push(`${root}${path === '/' ? '' : path}/memory.events`);
    else if (controllers!.split(',').includes('memory')) files.push(`${root}/memory${path === '/' ? '' : path}/memory.oom_control`);
  }
  files.push(`${root}/memory.events`, `${root}/memory/memory.oom_control`, '/proc/vmstat');
  return [...new Set(files)];
}

/** The count of the first file that has one; undefined on hosts without any (then no exit is taken for an OOM kill). */
export function systemOomCount(): OomCount {
  let procSelf = '';
  try {
    procSelf = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return () => undefined;
  }
  const file = oomCountFiles(procSelf).find((f) => readCount(f) !== undefined);
  return file === undefined ? () => undefined : () => readCount(file);
}

export class OomKills {
  private seen: number | undefined;

  constructor(private readonly count: OomCount = systemOomCount()) {
    this.seen = count();
  }

  /**
   * A process starts: OOM kills counted before now are not its business (with
   * `mcpmesh up`, Envoy and the other adapters share the cgroup, and a kill of
   * one of them must not be taken for a later exit of ours).
   */
  resync(): void {
    this.seen = this.count() ?? this.seen;
  }

  /** At a SIGKILL exit: whether the OOM killer did it (the count rose past what earlier exits took). Takes one count. */
  killedThisOne(): boolean {
    const now = this.count();
    if (now === undefined || this.seen === undefined) {
      this.seen ??= now;
      return false;
    }
    if (now <= this.seen) return false;
    this.seen++;
    return true;
  }
}
