// mcpmesh's own version, read from package.json at run time (the compiled
// file is dist/lib/package-version.js, two folders below the package root).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    const file = join(dirname(fileURLToPath(import.meta.url)), '../../package.json');
    cached = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return cached;
}
