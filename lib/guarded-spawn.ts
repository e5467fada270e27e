// Child processes that die with their parent, whole process group included —
// also when the parent is SIGKILLed. One mechanism for every child mcpmesh
// starts: `mcpmesh up`'s Envoy, adapters and `run:` servers, and an adapter's
// stdio server processes.
//
// Node has no PR_SET_PDEATHSIG, so the child is started through a tiny POSIX
// sh guard in a new session (its own process group): the guard forks a
// watcher that blocks reading a pipe from the parent (fd 3) and then execs
// the command in place, so the command keeps the guard's pid and is the group
// leader. If the parent dies for any reason the kernel closes the pipe, the
// watcher reads EOF and SIGKILLs the group. The watcher costs one idle `sh`.
// The command itself never sees fd 3 (it is closed before the exec).
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import type { Readable } from 'node:stream';

const GUARD_SCRIPT = '{ read -r _ <&3; kill -KILL 0; } </dev/null >/dev/null 2>&1 &\nexec "$@" 3<&-';

type StdioSlot = StdioPipe | StdioNull | 'inherit' | number;

export interface GuardedSpawnOptions {
  /** stdin, stdout, stderr of the command (fd 3 is the guard's pipe). */
  readonly stdio: readonly [StdioSlot, StdioSlot, StdioSlot];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

// Every live group, so that a normal exit of the parent (or an uncaught
// exception) takes the groups down at once, without waiting for the watchers.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

/** Signals every process of a group; false when the group is gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group is still alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts `command args` guarded: its pid is its process group id, the group
 * dies with this process, and when the command exits whatever it left in its
 * group (and the watcher) is killed too. `spawn` errors such as ENOENT show as
 * exit code 127 (126: not executable), as in a shell.
 */
export function spawnGuarded(command: string, args: readonly string[], opts: GuardedSpawnOptions): ChildProcess {
  installExitHook();
  const child = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'mcpmesh-guard', command, ...args], {
    stdio: [...opts.stdio, 'pipe'],
    detached: true,
    env: opts.env ?? process.env,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  // /bin/sh always exists on the systems Envoy runs on; a spawn failure is fatal.
  if (child.pid === undefined) throw new Error(`could not start /bin/sh to run ${command}`);
  const pgid = child.pid;
  liveGroups.add(pgid);
  child.once('exit', () => {
    killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    (child.stdio[3] as Readable | null)?.destroy();
  });
  return child;
}
