// The adapter process turns V8's allocation-site pretenuring off (adapter/heap-tuning.ts):
// a workload whose recent objects are mostly alive at each scavenge, in a
// young generation always at its full size, gets sites tenured without the
// tuning and none with it; an operator's own pretenuring flag is left as given.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '../../../adapter/heap-tuning.js')).href;

/** Runs the workload in a child node; its pretenuring statistics and what tuneHeapForServing returned. */
function run(tune: boolean, extraNodeArgs: string[] = []): { tenuredSites: number; statLines: number; applied: string } {
  const script = `
    const applied = ${tune} ? (await import(${JSON.stringify(MODULE)})).tuneHeapForServing() : 'untuned';
    const ring = new Array(40000);
    for (let i = 0; i < 400000; i++) ring[i % ring.length] = { n: i, pair: [i, i + 1] };
    process.stderr.write('applied=' + applied);
  `;
  const r = spawnSync(
    process.execPath,
    [
      '--max-semi-space-size=1',
      '--min-semi-space-size=1',
      '--trace-pretenuring-statistics',
      ...extraNodeArgs,
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
  );
  assert.equal(r.status, 0, r.stderr);
  const stats = r.stdout.split('\n').filter((l) => l.includes('pretenuring:'));
  const tenuredSites = stats.reduce((n, l) => n + Number(/ tenured=(\d+)/.exec(l)?.[1] ?? 0), 0);
  return { tenuredSites, statLines: stats.length, applied: /applied=(\S+)/.exec(r.stderr)?.[1] ?? '' };
}

test('without the tuning, the workload gets allocation sites pretenured (the test shows what it guards)', () => {
  const r = run(false);
  assert.ok(r.tenuredSites > 0, `no site tenured in ${r.statLines} statistics lines`);
});

test('with the tuning, no allocation site is pretenured', () => {
  const r = run(true);
  assert.equal(r.applied, 'true');
  assert.equal(r.tenuredSites, 0);
});

test("an operator's explicit pretenuring flag is kept", () => {
  const r = run(true, ['--allocation-site-pretenuring']);
  assert.equal(r.applied, 'false');
  assert.ok(r.tenuredSites > 0, `no site tenured in ${r.statLines} statistics lines`);
});
