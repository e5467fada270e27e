// Session state in a directory of the local host, shared by the replicas that
// `mcpmesh up` starts there. One file per session, `<hex of sessionKey>.json`
// (hex: case-insensitive file systems would merge base64url names that differ
// in case), mode 0600 in a 0700 directory: subscription URIs can say what a
// client reads.
//
// - Writes are atomic: a complete temporary file renamed over the old one.
// - The file's mtime is set to the state's expiry, so a sweep learns every
//   expiry from one stat per file instead of reading each file.
// - Bounded: a sweep removes expired files and then, above maxEntries, the
//   earliest-expiring (oldest) ones down to 90% of it. It runs after every
//   `sweepEvery` writes of this process (or `sweepIntervalMs` after a write),
//   so the count stays below maxEntries + sweepEvery per writing replica.

import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { PrivateDirectory, writePrivateFile } from './private-files.js';
import {
  checkSessionKey,
  DEFAULT_MAX_SESSION_STATES,
  decodeSessionRecord,
  encodeSessionRecord,
  type SessionState,
  SessionStateError,
  type SessionStateStore,
} from './session-state-store.js';
import { SweepSchedule } from './sweep-schedule.js';

const STATE_FILE = /^[0-9a-f]{32}\.json$/;
const TEMP_FILE = /^\.[0-9a-f]{32}\.[0-9]+\.[0-9a-f]{8}\.tmp$/;
/** A temporary file this old was left by a writer that died before renaming it. */
const STALE_TEMP_MS = 60_000;

export interface DirectorySessionStateStoreOptions {
  /** One directory per server: `<state dir>/sessions/<server>`. */
  readonly dir: string;
  readonly maxEntries?: number;
  readonly sweepEvery?: number;
  readonly sweepIntervalMs?: number;
  readonly now?: () => number;
  /** A sweep that failed (it is tried again later). */
  readonly onError?: (message: string) => void;
}

export class DirectorySessionStateStore implements SessionStateStore {
  readonly dir: string;
  private readonly maxEntries: number;
  private readonly sweeps: SweepSchedule;
  private readonly now: () => number;
  private readonly root: PrivateDirectory;

  constructor(opts: DirectorySessionStateStoreOptions) {
    this.dir = resolvePath(opts.dir);
    this.root = new PrivateDirectory(this.dir);
    this.sweeps = new SweepSchedule(() => this.sweepOnce(), {
      every: opts.sweepEvery ?? 64,
      intervalMs: opts.sweepIntervalMs ?? 30_000,
      what: this.dir,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_SESSION_STATES;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1)
      throw new SessionStateError('maxEntries must be a positive integer', 'invalid_state');
    this.now = opts.now ?? Date.now;
  }

  async get(sessionKey: string): Promise<SessionState | undefined> {
    checkSessionKey(sessionKey);
    await this.mkdir();
    const path = this.pathOf(sessionKey);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const d = decodeSessionRecord(text, this.now());
    if (d.kind === 'ok') return d.state;
    await unlink(path).catch(() => undefined);
    return undefined;
  }

  async put(sessionKey: string, state: SessionState, expiresAt: number): Promise<void> {
    checkSessionKey(sessionKey);
    const text = encodeSessionRecord(state, expiresAt);
    await this.mkdir();
    const name = fileNameOf(sessionKey);
    await writePrivateFile({
      tmp: join(this.dir, `.${name.slice(0, 32)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`),
      path: join(this.dir, name),
      data: text,
      times: new Date(expiresAt),
    });
    this.sweeps.wrote();
  }

  async delete(sessionKey: string): Promise<void> {
    checkSessionKey(sessionKey);
    await unlink(this.pathOf(sessionKey)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  close(): Promise<void> {
    return this.sweeps.close();
  }

  /** Removes expired and stale files, then the oldest above the bound. Runs one at a time. */
  sweep(): Promise<void> {
    return this.sweeps.run();
  }

  private async sweepOnce(): Promise<void> {
    await this.mkdir();
    const now = this.now();
    const live: { name: string; expiresAt: number }[] = [];
    for (const name of await readdir(this.dir)) {
      const isState = STATE_FILE.test(name);
      if (!isState && !TEMP_FILE.test(name)) continue;
      const path = join(this.dir, name);
      let s: { mtimeMs: number; ctimeMs: number };
      try {
        s = await stat(path);
      } catch {
        continue; // removed meanwhile
      }
      if (isState ? s.mtimeMs <= now : now - s.ctimeMs > STALE_TEMP_MS) await unlink(path).catch(() => undefined);
      else if (isState) live.push({ name, expiresAt: s.mtimeMs });
    }
    if (live.length <= this.maxEntries) return;
    live.sort((a, b) => a.expiresAt - b.expiresAt);
    const target = Math.floor(this.maxEntries * 0.9);
    for (const f of live.slice(0, live.length - target)) await unlink(join(this.dir, f.name)).catch(() => undefined);
  }

  private mkdir(): Promise<void> {
    return this.root.ensure();
  }

  private pathOf(sessionKey: string): string {
    return join(this.dir, fileNameOf(sessionKey));
  }
}

function fileNameOf(sessionKey: string): string {
  return `${Buffer.from(sessionKey, 'base64url').toString('hex')}.json`;
}
