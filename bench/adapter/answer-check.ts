// The byte check of a server's large answer line (scanJsonBytes) on answers
// of several shapes, this build beside a baseline build (another checkout's
// dist/, loaded into the same process): one long string of each kind of
// text, and many strings of one length each (where a string switches from a
// byte at a time to four bytes at a time, and to a native search, matters).
// CPU ms, the median of 11 after 3 warm-ups.
//   npx tsc -p tsconfig.json && node dist/bench/adapter/answer-check.js [--baseline /path/to/other/checkout]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { scanJsonBytes } from '../../adapter/protocol/json-scan.js';
import { medianCpuMs } from '../process-cpu.js';

const { values } = parseArgs({ options: { baseline: { type: 'string' } } });
const MIB = 1024 * 1024;

function answer(result: unknown): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result }));
}
/** What the fixture's echo tool writes back for `t` (its text twice). */
function echo(t: string): Buffer {
  return answer({ content: [{ type: 'text', text: `echo: ${t}` }], structuredContent: { echoed: t, length: t.length } });
}
/** About 4 MiB of objects, each with one string of `len` bytes. */
function strings(len: number): Buffer {
  const count = Math.floor((4 * MIB) / (len + 8));
  return answer({ items: Array.from({ length: count }, (_, k) => ({ t: 'x'.repeat(Math.max(0, len - 6)) + String(k).padStart(6, '0') })) });
}

const SHAPES: ReadonlyArray<readonly [string, Buffer]> = [
  ['echo of 4 MiB of é (8 MiB)', echo('é'.repeat(2 * MIB))],
  ['echo of 4 MiB of ж (8 MiB)', echo('ж'.repeat(2 * MIB))],
  ['echo of 4 MiB of escaped quotes (8 MiB)', echo('"'.repeat(2 * MIB))],
  ['echo of 4 MiB of ASCII (8 MiB)', echo('a'.repeat(4 * MIB))],
  ...[16, 45, 60, 100, 200, 1000, 4000].map((len) => [`4 MiB of ${len}-byte strings`, strings(len)] as const),
];

type Check = (b: Uint8Array) => unknown;
const builds: Array<readonly [string, Check]> = [['this build', scanJsonBytes]];
if (values.baseline !== undefined) {
  const url = pathToFileURL(resolve(values.baseline, 'dist/adapter/protocol/json-scan.js')).href;
  builds.unshift(['baseline', ((await import(url)) as { scanJsonBytes: Check }).scanJsonBytes]);
}
const lines = [`| answer | ${builds.map(([b]) => `${b} ms`).join(' | ')} |`, `| --- |${' ---: |'.repeat(builds.length)}`];
for (const [name, bytes] of SHAPES) {
  for (const [, check] of builds) if (check(bytes) === undefined) throw new Error(`${name}: refused`);
  lines.push(`| ${name} | ${builds.map(([, check]) => medianCpuMs(() => check(bytes)).toFixed(2)).join(' | ')} |`);
  process.stderr.write(`${lines[lines.length - 1]}\n`);
}
process.stdout.write(`${lines.join('\n')}\n`);
