// One child process of a stdio server: newline-delimited messages on its
// stdin/stdout, stderr as log lines, and a guarantee that the whole process
// group dies with it — also when the adapter itself is SIGKILLed.
//
// Node has no PR_SET_PDEATHSIG, so the child is started through a tiny POSIX
// sh guard in a new session (its own process group): the guard forks a
// watcher that blocks reading a pipe from the adapter (fd 3) and then execs
// the server in place, so the server keeps the guard's pid and is the group
// leader. If the adapter dies for any reason the kernel closes the pipe, the
// watcher reads EOF and SIGKILLs the group. The watcher costs one idle `sh`.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';

const GUARD_SCRIPT = '{ read -r _ <&3; kill -KILL 0; } </dev/null >/dev/null 2>&1 &\nexec "$@" 3<&-';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StdioProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Longest stdout line accepted; a longer one means the server is broken. */
  readonly maxLineBytes: number;
  onLine(line: string): void;
  onStderrLine(line: string): void;
  onOverlongLine(bytes: number): void;
  /** Called once, after stdout was read to its end (or briefly waited for). */
  onExit(info: ExitInfo): void;
}

const MAX_STDERR_LINE = 8_192;
/** How long buffered stdout may still arrive after the process exited. */
const STDOUT_DRAIN_MS = 1_000;

// Every live group, so that a normal exit of the adapter (or an uncaught
// exception) still takes the servers down without waiting for the watcher.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
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

export class StdioProcess {
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly stdin: Writable;
  private exitInfo: ExitInfo | undefined;
  private readonly exitWaiters: Array<(info: ExitInfo) => void> = [];
  private corked = false;

  constructor(private readonly opts: StdioProcessOptions) {
    installExitHook();
    this.child = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'mcpmesh-guard', opts.command, ...opts.args], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    // /bin/sh always exists on the systems Envoy runs on; a spawn failure is fatal config.
    if (this.child.pid === undefined) throw new Error(`could not start /bin/sh to run ${opts.command}`);
    this.pid = this.child.pid;
    liveGroups.add(this.pid);
    this.stdin = this.child.stdin!;
    // EPIPE when the server died: its exit is reported through onExit.
    this.stdin.on('error', () => undefined);
    const stdout = this.child.stdout as Readable;
    const stderr = this.child.stderr as Readable;
    const out = new LineSplitter(opts.maxLineBytes, opts.onLine, opts.onOverlongLine);
    stdout.on('data', (chunk: Buffer) => out.push(chunk));
    const err = new LineSplitter(MAX_STDERR_LINE, opts.onStderrLine, () => opts.onStderrLine('[stderr line too long, dropped]'));
    stderr.on('data', (chunk: Buffer) => err.push(chunk));
    stderr.on('error', () => undefined);
    const stdoutDone = new Promise<void>((resolve) => {
      stdout.once('close', resolve);
      stdout.once('error', () => resolve());
    });
    let childExited = false;
    // A server that closed its stdout can answer nothing more: end it.
    void stdoutDone.then(() => {
      if (!childExited) killGroup(this.pid, 'SIGKILL');
    });
    this.child.once('exit', (code, signal) => {
      childExited = true;
      // Whatever the server left behind in its group (and the watcher) goes too.
      killGroup(this.pid, 'SIGKILL');
      liveGroups.delete(this.pid);
      const info: ExitInfo = { code, signal };
      const timer = setTimeout(() => this.finishExit(info), STDOUT_DRAIN_MS);
      void stdoutDone.then(() => {
        clearTimeout(timer);
        this.finishExit(info);
      });
    });
  }

  private finishExit(info: ExitInfo): void {
    if (this.exitInfo !== undefined) return;
    this.exitInfo = info;
    (this.child.stdio[3] as Readable | null)?.destroy();
    this.opts.onExit(info);
    for (const w of this.exitWaiters.splice(0)) w(info);
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  /**
   * Writes one message. Messages written while the event loop handles one
   * batch of I/O leave together in one syscall (setImmediate runs right after
   * the poll phase): under load that is one write for many calls.
   */
  write(text: string): void {
    if (this.exitInfo !== undefined || this.stdin.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.stdin.cork();
      setImmediate(this.uncork);
    }
    this.stdin.write(text + '\n');
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.stdin.uncork();
  };

  /** Kills the whole group at once (hang, protocol violation). */
  kill(): void {
    killGroup(this.pid, 'SIGKILL');
  }

  waitExit(): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /**
   * The MCP stdio shutdown: close stdin, then SIGTERM the group, then SIGKILL
   * it, each after half of `graceMs`.
   */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return this.exitInfo;
    const exited = this.waitExit();
    const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    this.stdin.end();
    if (await within(graceMs / 2)) return exited;
    killGroup(this.pid, 'SIGTERM');
    if (await within(graceMs / 2)) return exited;
    killGroup(this.pid, 'SIGKILL');
    return exited;
  }
}
