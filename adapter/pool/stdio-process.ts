// One child process of a stdio server: newline-delimited messages on its
// stdin/stdout, stderr as log lines, and a guarantee that the whole process
// group dies with it — also when the adapter itself is SIGKILLed.
//
// The child runs guarded (lib/guarded-spawn.ts): its own process group, which
// a watcher kills when the adapter's pipe to it closes.
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { killGroup, spawnGuarded } from '../../lib/guarded-spawn.js';
import { type LargeLines, LineSplitter } from './line-splitter.js';

const NEWLINE = Buffer.from('\n');

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
  /** A line over maxLineBytes was skipped; its first and last bytes. */
  onOverlongLine(bytes: number, head: Buffer, tail: Buffer): void;
  /** Lines of at least `threshold` bytes, undecoded (see LineSplitter). */
  readonly largeLines?: LargeLines;
  /** Called once, after stdout was read to its end (or briefly waited for). */
  onExit(info: ExitInfo): void;
}

const MAX_STDERR_LINE = 8_192;
/** How long buffered stdout may still arrive after the process exited. */
const STDOUT_DRAIN_MS = 1_000;

export class StdioProcess {
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly stdin: Writable;
  private exitInfo: ExitInfo | undefined;
  private readonly exitWaiters: Array<(info: ExitInfo) => void> = [];
  private corked = false;

  constructor(private readonly opts: StdioProcessOptions) {
    this.child = spawnGuarded(opts.command, opts.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    this.pid = this.child.pid!;
    this.stdin = this.child.stdin!;
    // EPIPE when the server died: its exit is reported through onExit.
    this.stdin.on('error', () => undefined);
    const stdout = this.child.stdout as Readable;
    const stderr = this.child.stderr as Readable;
    const out = new LineSplitter(opts.maxLineBytes, opts.onLine, opts.onOverlongLine, opts.largeLines);
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
      // Whatever the server left behind in its group (and the watcher) is killed by spawnGuarded.
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
    this.opts.onExit(info);
    for (const w of this.exitWaiters.splice(0)) w(info);
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  /**
   * Writes one message. Messages written while the event loop handles one
   * batch of I/O leave together in one syscall (setImmediate runs right after
   * the poll phase): under load that is one write for many calls. A large
   * message comes as byte pieces, written as they are (one writev).
   */
  write(text: string | readonly Uint8Array[]): void {
    if (this.exitInfo !== undefined || this.stdin.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.stdin.cork();
      setImmediate(this.uncork);
    }
    if (typeof text === 'string') {
      this.stdin.write(`${text}\n`);
      return;
    }
    for (const piece of text) if (piece.length > 0) this.stdin.write(piece);
    this.stdin.write(NEWLINE);
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
    const within = (ms: number) =>
      Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    this.stdin.end();
    if (await within(graceMs / 2)) return exited;
    killGroup(this.pid, 'SIGTERM');
    if (await within(graceMs / 2)) return exited;
    killGroup(this.pid, 'SIGKILL');
    return exited;
  }
}
