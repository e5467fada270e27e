// The file source: mcpmesh.yaml, watched. An edit that validates replaces the
// state; one that does not is reported (naming the field) and changes nothing.
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { parseDocument } from 'yaml';
import type { Logger } from '../../lib/log.js';
import type { SourceState } from '../catalog/model.js';
import { type PolicyInput, parsePolicy } from '../catalog/policy-schema.js';
import { ConfigError, FileConfigReader } from './file-config.js';
import type { CatalogSource, SourceStatus } from './source.js';

export interface FileSourceOptions {
  readonly file: string;
  readonly logger: Logger;
  /** Called for every rejected edit (metrics). */
  readonly onError?: (message: string) => void;
  /** Coalesces the bursts of events editors produce for one save. */
  readonly debounceMs?: number;
}

export class FileSource implements CatalogSource {
  readonly kind = 'file' as const;
  readonly file: string;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastHash = '';
  private readonly reader: FileConfigReader;
  private loading: Promise<void> = Promise.resolve();
  private st: { synced: boolean; lastError: string | undefined; lastSyncAt: number | undefined } = {
    synced: false,
    lastError: undefined,
    lastSyncAt: undefined,
  };

  constructor(private readonly opts: FileSourceOptions) {
    this.file = resolvePath(opts.file);
    this.reader = new FileConfigReader(this.file);
  }

  async start(onState: (state: SourceState) => void): Promise<void> {
    const first = await this.load();
    if (!first) throw new Error(this.st.lastError ?? `${this.file}: no configuration`);
    onState(first);
    // Watch the directory: editors save by writing a new file and renaming it.
    this.watcher = watch(dirname(this.file), (_event, name) => {
      if (name !== null && name !== basename(this.file)) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.loading = this.loading.then(async () => {
          const next = await this.load();
          if (next) onState(next);
        });
      }, this.opts.debounceMs ?? 10);
    });
  }

  /** The new state, or undefined when unchanged or invalid (then the last good stays). */
  private async load(): Promise<SourceState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      this.fail(`${this.file}: cannot read: ${(err as Error).message}`);
      return undefined;
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) {
      // Back to the configuration in force (e.g. a bad edit undone).
      this.st = { ...this.st, lastError: undefined };
      return undefined;
    }
    try {
      const state = await this.reader.read(text);
      this.lastHash = hash;
      this.st = { synced: true, lastError: undefined, lastSyncAt: Date.now() };
      this.opts.logger.info({ file: this.file, servers: state.servers.size }, 'configuration loaded');
      return state;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.fail(err.message);
      return undefined;
    }
  }

  private fail(message: string): void {
    this.st = { ...this.st, lastError: message };
    this.opts.logger.error({ file: this.file, error: message }, 'configuration rejected; the last good configuration stays in force');
    this.opts.onError?.(message);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
    await this.loading;
  }

  status(): SourceStatus {
    return { kind: 'file', synced: this.st.synced, stale: false, lastError: this.st.lastError, lastSyncAt: this.st.lastSyncAt };
  }

  /** Rewrites the server's `policy` in the file, keeping its comments and layout. */
  async writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    if (policy !== null) {
      const parsed = parsePolicy(policy);
      if (!parsed.ok) throw new ConfigError(this.file, parsed.errors);
    }
    const text = await readFile(this.file, 'utf8');
    const doc = parseDocument(text);
    const servers = doc.toJS()?.servers as { name?: unknown }[] | undefined;
    const index = servers?.findIndex((s) => s.name === server) ?? -1;
    if (index < 0) throw new ConfigError(this.file, [`no server named "${server}"`]);
    if (policy === null) doc.deleteIn(['servers', index, 'policy']);
    else doc.setIn(['servers', index, 'policy'], doc.createNode(policy));
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, doc.toString());
    await rename(tmp, this.file);
  }
}
