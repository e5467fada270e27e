// Runs the compiled test suite with node's own test runner, unit files first,
// one file at a time: integration tests start real Envoy/Consul processes, and
// on 2-core machines they should measure the code, not contention.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function files(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const filter = process.argv.slice(2);
const pick = (list) => (filter.length ? list.filter((f) => filter.some((x) => f.includes(x))) : list);
const unit = pick(files('dist/test/unit'));
const integration = pick(files('dist/test/integration'));
const all = [...unit, ...integration];
if (all.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...all], { stdio: 'inherit' });
process.exit(r.status ?? 1);
