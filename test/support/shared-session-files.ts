// What the replicas of a session test share on the local host: one key ring
// file and one session store directory, in a temporary directory of the test's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKeyFile } from '../../adapter/sessions/session-keys.js';

export interface SharedSessionFiles {
  readonly keysFile: string;
  readonly storeDir: string;
  /** The `mcpmesh adapter` flags naming both. */
  readonly args: readonly string[];
  /** Writes a fresh key ring to the key file. */
  createKeys(): Promise<void>;
  remove(): void;
}

export function sharedSessionFiles(prefix: string): SharedSessionFiles {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const keysFile = join(dir, 'session-keys.json');
  const storeDir = join(dir, 'sessions');
  return {
    keysFile,
    storeDir,
    args: ['--session-keys-file', keysFile, '--session-store-dir', storeDir],
    async createKeys() {
      await ensureKeyFile(keysFile);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
