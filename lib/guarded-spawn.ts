// Child processes that die with their parent, whole process group included —
// also when the parent is SIGKILLed. One mechanism for every child mcpmesh
// starts: `mcpmesh up`'s Envoy, adapters and `run:` servers, and an adapter's
// stdio server processes.
//
// Node has no PR_SET_PDEATHSIG, so each child gets a watcher: the command runs
// in a new session (its own process group, its pid the group id; started as
// `sh -c 'exec "$@"'`, so a missing command is exit 127 as in a shell), and a
// tiny `sh` watcher, a child of this process in a session of its own, blocks
// reading a pipe from this process. If this process dies for any reason the
// kernel closes the pipe, the watcher reads EOF and SIGKILLs the group. When
// the command exits, this process kills what it left in its group and then the
// watcher, and reaps the watcher itself: nothing is left behind, not even a
// zombie for init to reap. A watcher costs one idle `sh`.
import { type ChildProcess, type StdioNull, type StdioPipe, spawn } from 'node:child_process';

const EXEC_SCRIPT = 'exec "$@"';
const WATCH_SCRIPT = 'read -r _; kill -KILL -"$1"';

type StdioSlot = StdioPipe | StdioNull | 'inherit' | number;

export interface GuardedSpawnOptions {
  /** stdin, stdout, stderr of the command. */
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
  const child = spawn('/bin/sh', ['-c', EXEC_SCRIPT, 'mcpmesh-guarded', command, ...args], {
    stdio: [...opts.stdio],
    detached: true,
    env: opts.env ?? process.env,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  // /bin/sh always exists on the systems Envoy runs on; a spawn failure is fatal.
  if (child.pid === undefined) throw new Error(`could not start /bin/sh to run ${command}`);
  const pgid = child.pid;
  liveGroups.add(pgid);
  // Detached too: a Ctrl-C meant for the terminal's foreground group must not end it.
  const watcher = spawn('/bin/sh', ['-c', WATCH_SCRIPT, 'mcpmesh-guard', String(pgid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watcher.stdin!.on('error', () => undefined);
  watcher.on('error', () => undefined);
  child.once('exit', () => {
    killGroup(pgid, 'SIGKILL');
    liveGroups.delete(pgid);
    watcher.kill('SIGKILL');
  });
  return child;
}
