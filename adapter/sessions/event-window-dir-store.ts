// Replay windows in a directory of the local host, shared by the replicas that
// `mcpmesh up` starts there: `<dir>/<hex of sessionKey>/<event id>.<bytes>`,
// one file per event (mode 0600 in 0700 directories: events say what a client
// reads). The size in the name lets a trim keep the byte bound from one
// readdir, without a stat per event.
//
// One file per event because several replicas may write one session's window
// at once (a session whose GET stream and calls went to different replicas):
// a new file never races another writer, where a rewritten window would lose
// the other's event. Writes are a temporary file renamed into place, so a
// reader sees whole events only. Each append trims its own window (age, count,
// bytes); a sweep after every `sweepEvery` appends removes windows whose
// newest event is past the age bound, then the oldest beyond maxWindows.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import {
  checkBounds,
  checkWindowKey,
  DEFAULT_MAX_WINDOWS,
  DEFAULT_WINDOW_BOUNDS,
  type EventWindowStore,
  eventTime,
  isEventId,
  type StoredEvent,
  trimWindow,
  type WindowBounds,
} from './event-window-store.js';
import { PrivateDirectory, writePrivateFile } from './private-files.js';
import { SweepSchedule } from './sweep-schedule.js';

const WINDOW_DIR = /^[0-9a-f]{32}$/;
const EVENT_FILE = /^([^.]+)\.(\d{1,10})$/;

interface EventFile {
  readonly name: string;
  readonly id: string;
  readonly size: number;
}

export interface DirectoryEventWindowStoreOptions {
  readonly dir: string;
  readonly bounds?: WindowBounds;
  readonly maxWindows?: number;
  readonly sweepEvery?: number;
  readonly now?: () => number;
  readonly onError?: (message: string) => void;
}

export class DirectoryEventWindowStore implements EventWindowStore {
  readonly shared = true;
  readonly dir: string;
  readonly bounds: WindowBounds;
  private readonly maxWindows: number;
  private readonly now: () => number;
  private readonly sweeps: SweepSchedule;
  private readonly root: PrivateDirectory;

  constructor(opts: DirectoryEventWindowStoreOptions) {
    this.dir = resolvePath(opts.dir);
    this.root = new PrivateDirectory(this.dir);
    this.bounds = checkBounds(opts.bounds ?? DEFAULT_WINDOW_BOUNDS);
    this.maxWindows = opts.maxWindows ?? DEFAULT_MAX_WINDOWS;
    this.now = opts.now ?? Date.now;
    this.sweeps = new SweepSchedule(() => this.sweepOnce(), {
      every: opts.sweepEvery ?? 64,
      intervalMs: 60_000,
      what: this.dir,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }

  async append(sessionKey: string, event: StoredEvent): Promise<void> {
    checkWindowKey(sessionKey);
    if (!isEventId(event.id)) return;
    const wdir = this.windowDir(sessionKey);
    await this.mkdirs(wdir);
    await writePrivateFile({
      tmp: join(wdir, `.${randomBytes(6).toString('hex')}.tmp`),
      path: join(wdir, `${event.id}.${Buffer.byteLength(event.data, 'utf8')}`),
      data: event.data,
    });
    await this.trim(wdir);
    this.sweeps.wrote();
  }

  async list(sessionKey: string, skip?: (id: string) => boolean): Promise<readonly StoredEvent[]> {
    checkWindowKey(sessionKey);
    const wdir = this.windowDir(sessionKey);
    const now = this.now();
    const files = (await this.files(wdir)).filter((f) => now - eventTime(f.id) < this.bounds.maxAgeMs).slice(-this.bounds.maxEvents);
    const events: StoredEvent[] = [];
    for (const f of files) {
      if (skip?.(f.id)) continue;
      const data = await readFile(join(wdir, f.name), 'utf8').catch(() => undefined);
      if (data !== undefined) events.push({ id: f.id, data });
    }
    return trimWindow(events, this.bounds, now);
  }

  async discard(sessionKey: string): Promise<void> {
    checkWindowKey(sessionKey);
    await rm(this.windowDir(sessionKey), { recursive: true, force: true });
  }

  close(): Promise<void> {
    return this.sweeps.close();
  }

  sweep(): Promise<void> {
    return this.sweeps.run();
  }

  private async trim(wdir: string): Promise<void> {
    const now = this.now();
    const files = await this.files(wdir);
    const doomed = new Set(files.filter((f) => now - eventTime(f.id) >= this.bounds.maxAgeMs));
    const fresh = files.filter((f) => !doomed.has(f));
    for (const f of fresh.slice(0, Math.max(0, fresh.length - this.bounds.maxEvents))) doomed.add(f);
    let bytes = 0;
    for (const f of fresh.slice(-this.bounds.maxEvents).reverse()) {
      bytes += f.size;
      if (bytes > this.bounds.maxBytes) doomed.add(f);
    }
    for (const f of doomed) await unlink(join(wdir, f.name)).catch(() => undefined);
  }

  /** The window's event files, oldest first. */
  private async files(wdir: string): Promise<EventFile[]> {
    const all = await readdir(wdir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: EventFile[] = [];
    for (const name of all) {
      const m = EVENT_FILE.exec(name);
      if (m !== null && isEventId(m[1]!)) out.push({ name, id: m[1]!, size: Number(m[2]) });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async sweepOnce(): Promise<void> {
    await this.mkdirs(this.dir);
    const now = this.now();
    const live: { path: string; at: number }[] = [];
    for (const name of await readdir(this.dir)) {
      if (!WINDOW_DIR.test(name)) continue;
      const path = join(this.dir, name);
      const newest = (await this.files(path)).at(-1)?.id;
      if (newest === undefined || now - eventTime(newest) >= this.bounds.maxAgeMs) {
        // A temporary file younger than a minute may belong to a write in progress.
        const s = await stat(path).catch(() => undefined);
        if (s !== undefined && now - s.mtimeMs > 60_000) await rm(path, { recursive: true, force: true });
      } else live.push({ path, at: eventTime(newest) });
    }
    if (live.length <= this.maxWindows) return;
    live.sort((a, b) => a.at - b.at);
    for (const w of live.slice(0, live.length - this.maxWindows)) await rm(w.path, { recursive: true, force: true });
  }

  private mkdirs(path: string): Promise<unknown> {
    if (path === this.dir) return this.root.ensure();
    return mkdir(path, { recursive: true, mode: 0o700 });
  }

  private windowDir(sessionKey: string): string {
    return join(this.dir, Buffer.from(sessionKey, 'base64url').toString('hex'));
  }
}
