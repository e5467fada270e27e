// The ring of keys that seal a server's session ids, and where it comes from:
// a JSON file (watched), an environment variable, or Consul KV (watched).
//
// Format (the file, the variable and the KV value alike):
//
//   { "version": 1,
//     "graceSeconds": 86400,                       // optional, default 86400
//     "keys": [ { "kid": "k1",                     // 1-16 of A-Za-z0-9_-
//                 "secret": "<base64 of 32 bytes>",
//                 "activeFrom": "2026-01-01T00:00:00Z",   // or epoch ms
//                 "retireAt": "2026-01-03T00:00:00Z" } ] } // optional
//
// Rotation: the key with the latest `activeFrom` that has come signs. A key is
// accepted until its `retireAt`, or else until `graceSeconds` after the next
// key became active, so ids sealed just before a rotation stay valid for a
// session lifetime when grace ≥ lifetime (both default to 24 h). A key whose
// `activeFrom` is still ahead is accepted already: written to every replica
// before any signs with it, it is never unknown to one of them.
//
// Secrets stay inside SessionKey: it prints and serializes as its kid only,
// and no error message here quotes an input value.
import { randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { inspect } from 'node:util';
import { z } from 'zod';
import { BlockingWatch } from '../../lib/consul/blocking-watch.js';
import type { ConsulHttp } from '../../lib/consul/consul-http.js';
import { SERVER_NAME, SERVER_NAME_RULE, SESSION_KEYS_ENV, SESSION_KEYS_KV_PREFIX } from '../../lib/mesh-contracts.js';

export const KEY_RING_FORMAT_VERSION = 1;
export const DEFAULT_GRACE_SECONDS = 24 * 60 * 60;
/** Enough for several rotations in flight; a ring is read on every seal. */
export const MAX_RING_KEYS = 16;
const MAX_RING_TEXT = 64 * 1024;
const SECRET_BYTES = 32;

export class KeyRingError extends Error {
  override readonly name = 'KeyRingError';
}

export class SessionKey {
  readonly #secret: Buffer;

  constructor(
    readonly kid: string,
    secret: Buffer,
    /** Epoch ms. */
    readonly activeFrom: number,
    /** Epoch ms, when set explicitly. */
    readonly retireAt: number | undefined,
  ) {
    if (secret.length !== SECRET_BYTES) throw new KeyRingError(`key ${kid}: a secret is ${SECRET_BYTES} bytes`);
    this.#secret = Buffer.from(secret);
  }

  /** The raw key, for the codec's key derivation only. */
  secretBytes(): Buffer {
    return this.#secret;
  }

  toJSON(): object {
    return {
      kid: this.kid,
      activeFrom: new Date(this.activeFrom).toISOString(),
      ...(this.retireAt !== undefined ? { retireAt: new Date(this.retireAt).toISOString() } : {}),
    };
  }

  [inspect.custom](): string {
    return `SessionKey(${this.kid})`;
  }
}

const Instant = z
  .union([z.number().int().nonnegative(), z.iso.datetime({ offset: true })])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)));

const KeyEntrySchema = z.strictObject({
  kid: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'a kid is 1-16 of A-Za-z0-9_-'),
  // Standard or URL-safe base64, with or without padding, of exactly 32 bytes.
  secret: z.string().regex(/^[A-Za-z0-9+/_-]{43}=?$/, `a secret is base64 of ${SECRET_BYTES} bytes`),
  activeFrom: Instant,
  retireAt: Instant.optional(),
});

const RingSchema = z.strictObject({
  version: z.literal(KEY_RING_FORMAT_VERSION),
  graceSeconds: z
    .number()
    .int()
    .nonnegative()
    .max(366 * 24 * 60 * 60)
    .optional(),
  keys: z.array(KeyEntrySchema).min(1).max(MAX_RING_KEYS),
});

export type KeyRingJson = z.input<typeof RingSchema>;

export class KeyRing {
  /** Oldest activation first. */
  readonly keys: readonly SessionKey[];
  private readonly byKid: ReadonlyMap<string, { key: SessionKey; acceptUntil: number }>;

  constructor(
    keys: readonly SessionKey[],
    readonly graceMs: number = DEFAULT_GRACE_SECONDS * 1000,
  ) {
    if (keys.length === 0) throw new KeyRingError('a key ring has at least one key');
    if (keys.length > MAX_RING_KEYS) throw new KeyRingError(`a key ring has at most ${MAX_RING_KEYS} keys`);
    const sorted = [...keys].sort((a, b) => a.activeFrom - b.activeFrom);
    const byKid = new Map<string, { key: SessionKey; acceptUntil: number }>();
    for (let i = 0; i < sorted.length; i++) {
      const key = sorted[i]!;
      const next = sorted[i + 1];
      if (byKid.has(key.kid)) throw new KeyRingError(`kid ${key.kid} appears twice`);
      if (next !== undefined && next.activeFrom === key.activeFrom)
        throw new KeyRingError(`keys ${key.kid} and ${next.kid} have the same activeFrom: which one signs would be undefined`);
      if (key.retireAt !== undefined && key.retireAt <= key.activeFrom)
        throw new KeyRingError(`key ${key.kid}: retireAt is not after activeFrom`);
      const acceptUntil = key.retireAt ?? (next !== undefined ? next.activeFrom + graceMs : Number.POSITIVE_INFINITY);
      byKid.set(key.kid, { key, acceptUntil });
    }
    this.keys = sorted;
    this.byKid = byKid;
  }

  /** Parses and validates a ring; KeyRingError names the fields at fault, never their values. */
  static parse(text: string): KeyRing {
    if (text.length > MAX_RING_TEXT) throw new KeyRingError(`a key ring is at most ${MAX_RING_TEXT} characters`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new KeyRingError('a key ring is JSON, and this is not');
    }
    return KeyRing.fromJson(raw);
  }

  static fromJson(raw: unknown): KeyRing {
    const r = RingSchema.safeParse(raw);
    if (!r.success) throw new KeyRingError(r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    const keys = r.data.keys.map((k) => new SessionKey(k.kid, Buffer.from(k.secret, 'base64'), k.activeFrom, k.retireAt));
    return new KeyRing(keys, (r.data.graceSeconds ?? DEFAULT_GRACE_SECONDS) * 1000);
  }

  /** The key that seals new ids now, if any. */
  signer(now: number): SessionKey | undefined {
    for (let i = this.keys.length - 1; i >= 0; i--) {
      const k = this.keys[i]!;
      if (k.activeFrom > now) continue;
      return now < this.byKid.get(k.kid)!.acceptUntil ? k : undefined;
    }
    return undefined;
  }

  /** The key named `kid` if ids it sealed are still accepted now. */
  verifier(kid: string, now: number): SessionKey | undefined {
    const e = this.byKid.get(kid);
    return e !== undefined && now < e.acceptUntil ? e.key : undefined;
  }

  /** When ids of `kid` stop being accepted (Infinity while no successor and no retireAt). */
  acceptUntil(kid: string): number | undefined {
    return this.byKid.get(kid)?.acceptUntil;
  }

  /** For logs: kids and dates, never secrets. */
  toJSON(): object {
    return { graceSeconds: this.graceMs / 1000, keys: this.keys.map((k) => k.toJSON()) };
  }

  [inspect.custom](): string {
    return `KeyRing(${this.keys.map((k) => k.kid).join(', ')})`;
  }
}

/** A fresh key entry. The kid says when it was made, so rings sort by eye too. */
export function newKeyEntry(activeFrom: number): { kid: string; secret: string; activeFrom: string } {
  const kid = `k${Math.floor(activeFrom / 1000).toString(36)}${randomBytes(2).toString('hex')}`;
  return { kid, secret: randomBytes(SECRET_BYTES).toString('base64'), activeFrom: new Date(activeFrom).toISOString() };
}

export function newKeyRingJson(now: number = Date.now()): KeyRingJson {
  return { version: KEY_RING_FORMAT_VERSION, keys: [newKeyEntry(now)] };
}

/** The ring in `MCPMESH_SESSION_KEYS` (or `name`), undefined when the variable is unset or empty. */
export function keyRingFromEnv(env: NodeJS.ProcessEnv = process.env, name = SESSION_KEYS_ENV): KeyRing | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return KeyRing.parse(text);
  } catch (err) {
    throw new KeyRingError(`${name}: ${(err as Error).message}`);
  }
}

export interface KeyRingWatchEvents {
  /** A new ring is in force. */
  readonly onChange?: (ring: KeyRing) => void;
  /** A read or an edit was refused; the ring in force stays. The message quotes no secret. */
  readonly onError?: (message: string) => void;
}

export interface KeyFileWatcherOptions extends KeyRingWatchEvents {
  readonly file: string;
  /** fs.watch misses changes on some file systems (network mounts, some containers); a stat poll catches them. */
  readonly pollMs?: number;
  /** Coalesces the bursts of events one save produces. */
  readonly debounceMs?: number;
}

/** A key file, read at start and again whenever it changes. */
export class KeyFileWatcher {
  readonly file: string;
  private current: KeyRing | undefined;
  private lastText: string | undefined;
  private lastStat = '';
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: KeyFileWatcherOptions) {
    this.file = resolvePath(opts.file);
  }

  /** Reads the file (throws KeyRingError if it cannot be read or is invalid), then watches it. */
  async start(): Promise<KeyRing> {
    const ring = await this.load(true);
    if (ring === undefined) throw new KeyRingError(`${this.file}: no key ring`);
    // The directory, not the file: a save by rename replaces the file watched.
    try {
      this.watcher = watch(dirname(this.file), (_event, name) => {
        if (name !== null && name !== basename(this.file)) return;
        this.schedule();
      });
      this.watcher.on('error', () => {
        // The poll below goes on.
      });
    } catch {
      // Some file systems cannot be watched; the poll is enough.
    }
    this.poller = setInterval(() => this.poll(), this.opts.pollMs ?? 5_000);
    this.poller.unref();
    return ring;
  }

  get ring(): KeyRing | undefined {
    return this.current;
  }

  /** Resolves once loads already triggered are done (tests, shutdown). */
  settled(): Promise<void> {
    return this.loading;
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poller);
    clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.loading = this.loading
        .then(() => this.load(false))
        .then(
          () => undefined,
          (err: unknown) => this.opts.onError?.(`${this.file}: ${(err as Error).message}`),
        );
    }, this.opts.debounceMs ?? 20);
  }

  private poll(): void {
    void stat(this.file).then(
      (s) => {
        if (statKey(s) !== this.lastStat) this.schedule();
      },
      () => this.schedule(),
    );
  }

  private async load(first: boolean): Promise<KeyRing | undefined> {
    if (this.stopped) return undefined;
    let text: string;
    try {
      const s = await stat(this.file);
      this.lastStat = statKey(s);
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return this.refuse(`${this.file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, first);
    }
    if (text === this.lastText) return this.current;
    let ring: KeyRing;
    try {
      ring = KeyRing.parse(text);
    } catch (err) {
      return this.refuse(`${this.file}: ${(err as Error).message}`, first);
    }
    this.lastText = text;
    this.current = ring;
    if (!first) this.opts.onChange?.(ring);
    return ring;
  }

  private refuse(message: string, first: boolean): undefined {
    if (first) throw new KeyRingError(message);
    this.opts.onError?.(`${message}; the key ring in force stays`);
    return undefined;
  }
}

function statKey(s: { mtimeMs: number; size: number; ino: number }): string {
  return `${s.mtimeMs}/${s.size}/${s.ino}`;
}

export interface EnsureKeyFileResult {
  readonly created: boolean;
  /** Set when the file exists with group or other permissions. */
  readonly warning?: string;
}

/**
 * Creates the key file with one fresh key if it is missing (mode 0600, its
 * directory 0700). Create-if-missing is a hard link of a complete temporary
 * file, so concurrent callers agree on one ring and none sees a half-written one.
 */
export async function ensureKeyFile(file: string, now: number = Date.now()): Promise<EnsureKeyFileResult> {
  const path = resolvePath(file);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writePrivate(tmp, `${JSON.stringify(newKeyRingJson(now), null, 2)}\n`);
  try {
    await link(tmp, path);
    return { created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const mode = (await stat(path)).mode & 0o777;
    return mode & 0o077
      ? { created: false, warning: `${path} is readable by others (mode ${mode.toString(8)}); it should be 0600` }
      : { created: false };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export interface RotateOptions {
  readonly now?: number;
  /**
   * Delay before the new key signs: every replica must have read it first, or
   * one that has not would refuse the new ids as `unknown_key`. Longer than the
   * key file poll, or the Consul watch's round trip.
   */
  readonly activateAfterMs?: number;
}

/**
 * Adds a new key to a ring and drops keys whose ids are no longer accepted:
 * the older keys stay accepted for the ring's grace after the new one signs.
 */
export function rotatedKeyRingJson(current: KeyRingJson, opts: RotateOptions = {}): KeyRingJson {
  const now = opts.now ?? Date.now();
  const ring = KeyRing.fromJson(current);
  const kept = current.keys.filter((k) => (ring.acceptUntil(k.kid) ?? 0) > now);
  const next = [...kept, newKeyEntry(now + (opts.activateAfterMs ?? 30_000))];
  // Oldest first out when the ring is full.
  const bounded = next.slice(Math.max(0, next.length - MAX_RING_KEYS));
  const out: KeyRingJson = { ...current, keys: bounded };
  KeyRing.fromJson(out);
  return out;
}

/** rotatedKeyRingJson on a key file, rewritten atomically with mode 0600. */
export async function rotateKeyFile(file: string, opts: RotateOptions = {}): Promise<KeyRing> {
  const path = resolvePath(file);
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new KeyRingError(`${path}: a key ring is JSON, and this is not`);
  }
  let out: KeyRingJson;
  try {
    out = rotatedKeyRingJson(raw as KeyRingJson, opts);
  } catch (err) {
    throw new KeyRingError(`${path}: ${(err as Error).message}`);
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writePrivate(tmp, `${JSON.stringify(out, null, 2)}\n`);
  await rename(tmp, path);
  return KeyRing.fromJson(out);
}

async function writePrivate(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface KvEntry {
  readonly Value?: string | null;
}

export interface ConsulKeyRingOptions extends KeyRingWatchEvents {
  readonly http: Pick<ConsulHttp, 'request'>;
  readonly server: string;
  readonly waitSeconds?: number;
}

/** The ring at `mcpmesh/session-keys/<server>` in Consul KV, kept current by a blocking query. */
export class ConsulKeyRingWatcher {
  private current: KeyRing | undefined;
  private lastText: string | undefined;
  private lastError: string | undefined;
  private readonly watch: BlockingWatch<KvEntry[]>;
  private readonly waiters = new Set<(ring: KeyRing) => void>();

  constructor(private readonly opts: ConsulKeyRingOptions) {
    if (!SERVER_NAME.test(opts.server)) throw new KeyRingError(SERVER_NAME_RULE);
    this.watch = new BlockingWatch<KvEntry[]>(
      opts.http,
      {
        path: `/v1/kv/${SESSION_KEYS_KV_PREFIX}${opts.server}`,
        endpoint: 'kv_session_keys',
        consistent: true,
        notFoundAs: [],
        ...(opts.waitSeconds !== undefined ? { waitSeconds: opts.waitSeconds } : {}),
      },
      { data: (body) => this.onData(body), error: (err) => this.problem(`Consul: ${err.message}`) },
    );
  }

  get kvKey(): string {
    return `${SESSION_KEYS_KV_PREFIX}${this.opts.server}`;
  }

  start(): void {
    this.watch.start();
  }

  get ring(): KeyRing | undefined {
    return this.current;
  }

  /** The first valid ring; rejects after `timeoutMs` with the last problem seen (the watch goes on). */
  ready(timeoutMs = 10_000): Promise<KeyRing> {
    if (this.current !== undefined) return Promise.resolve(this.current);
    return new Promise<KeyRing>((resolve, reject) => {
      const done = (ring: KeyRing) => {
        clearTimeout(timer);
        resolve(ring);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(
          new KeyRingError(
            `no valid session key ring at ${this.kvKey} after ${timeoutMs} ms${this.lastError !== undefined ? `: ${this.lastError}` : ''}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(done);
    });
  }

  stop(): void {
    this.watch.stop();
  }

  private onData(body: KvEntry[]): void {
    const value = Array.isArray(body) ? body[0]?.Value : undefined;
    if (typeof value !== 'string') return this.problem(`${this.kvKey} is missing or empty`);
    const text = Buffer.from(value, 'base64').toString('utf8');
    if (text === this.lastText) return;
    let ring: KeyRing;
    try {
      ring = KeyRing.parse(text);
    } catch (err) {
      return this.problem(`${this.kvKey}: ${(err as Error).message}`);
    }
    const first = this.current === undefined;
    this.lastText = text;
    this.current = ring;
    this.lastError = undefined;
    if (!first) this.opts.onChange?.(ring);
    for (const w of [...this.waiters]) w(ring);
    this.waiters.clear();
  }

  private problem(message: string): void {
    this.lastError = message;
    this.opts.onError?.(this.current !== undefined ? `${message}; the key ring in force stays` : message);
  }
}

/**
 * Writes a fresh ring to `mcpmesh/session-keys/<server>` unless one is there
 * (check-and-set on index 0, so replicas starting together agree on one ring).
 * Returns whether this call created it.
 */
export async function ensureConsulKeyRing(http: Pick<ConsulHttp, 'request'>, server: string, now: number = Date.now()): Promise<boolean> {
  if (!SERVER_NAME.test(server)) throw new KeyRingError(SERVER_NAME_RULE);
  const res = await http.request<boolean>('PUT', `/v1/kv/${SESSION_KEYS_KV_PREFIX}${server}`, {
    query: { cas: '0' },
    body: newKeyRingJson(now),
    endpoint: 'kv_session_keys_put',
    timeoutMs: 10_000,
  });
  return res.body === true;
}
