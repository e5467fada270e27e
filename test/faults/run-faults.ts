// `npm run faults`: every fault scenario against a fresh real mesh (Consul,
// three adapters, control plane, Envoy), one after another, and the table.
//
//   node dist/test/faults/run-faults.js [--only 1,3] [--generation 2025|2026|both] [--rate 250] [--scale 1] [--auth] [--write]
//
// --auth runs every scenario with authentication on: a JWT on every request
// (verified by Envoy) and per-tool rules on the fixture server (fault-auth.ts).
// Each scenario runs once per protocol generation (default both): 2026-07-28
// stateless calls, and 2025-era sessions through the official SDK 1.x client.
// --write replaces the "Fault suite" section of bench/RESULTS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_RUN, GENERATIONS, type Generation, runScenario, SCENARIOS, type ScenarioResult } from './scenarios.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    generation: { type: 'string', default: 'both' },
    rate: { type: 'string', default: String(DEFAULT_RUN.callsPerSecond) },
    scale: { type: 'string', default: '1' },
    auth: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
});
const only = values.only?.split(',').map(Number);
const chosen = SCENARIOS.filter((s) => only === undefined || only.includes(s.id));
const run = { ...DEFAULT_RUN, callsPerSecond: Number(values.rate), scale: Number(values.scale), auth: values.auth };
if (values.generation !== 'both' && !(GENERATIONS as readonly string[]).includes(values.generation)) {
  process.stderr.write(`--generation: 2025, 2026 or both, not ${values.generation}\n`);
  process.exit(2);
}
const generations: readonly Generation[] = values.generation === 'both' ? GENERATIONS : [values.generation as Generation];

const results: ScenarioResult[] = [];
for (const s of chosen) {
  for (const g of generations) {
    process.stderr.write(`scenario ${s.id} (${g}): ${s.name} ...\n`);
    const r = await runScenario(s, run, g);
    results.push(r);
    process.stderr.write(`  ${row(r)}\n${r.failures.map((f) => `    ${f}\n`).join('')}`);
  }
}

function recovery(r: ScenarioResult): string {
  if (r.recoveryMs === undefined) return r.expectFailures ? 'n/a' : 'not within the run';
  return `${(r.recoveryMs / 1000).toFixed(2)} s`;
}

function row(r: ScenarioResult): string {
  const lost = r.sessionsLost === undefined ? 'n/a' : `${r.sessionsLost} of ${r.sessions}`;
  return `| ${r.id} | ${r.generation} | ${r.name} | ${r.callsPerSecond.toFixed(0)} calls/s | ${r.seconds.toFixed(1)} s | ${r.calls} | ${r.failed}${r.expectFailures ? ' (expected)' : ''} | ${lost} | ${recovery(r)} | ${r.notes.join('; ')} |`;
}

const table = [
  '| # | generation | scenario | load | duration | calls | failed | sessions lost | recovery | notes |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...results.map(row),
].join('\n');
process.stdout.write(`${table}\n`);

// Even where failures are the point, no session may be lost.
const bad = results.filter(
  (r) =>
    (r.sessionsLost ?? 0) > 0 || (r.expectFailures ? r.failed === 0 : r.failed > 0 || r.recoveryMs === undefined || r.recoveryMs > 5_000),
);
if (values.write) {
  const file = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'bench/RESULTS.md');
  const text = readFileSync(file, 'utf8');
  // With --auth, a section of its own beside the plain suite's.
  const head = values.auth ? '## Fault suite with authentication (JWT + per-tool rules)' : '## Fault suite';
  const section = [
    head,
    '',
    `Command: ${values.auth ? '' : '`npm run faults` (= '}\`node dist/test/faults/run-faults.js --rate ${run.callsPerSecond} --generation ${values.generation}${values.auth ? ' --auth' : ''} --write\`${values.auth ? '' : ')'}. Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
    'Each scenario, once per protocol generation: a fresh mesh (Consul `-dev`, three `mcpmesh adapter` replicas with a pool of 2 of the fixture stdio server, control plane on the Consul source, Envoy),',
    `16 clients calling the idempotent \`slow\` tool (5 ms) at ${run.callsPerSecond} calls/s in all through Envoy; 2 s of load, the fault, then 6 s more.`,
    '2026: 16 connections of 2026-07-28 stateless calls. 2025: 16 sessions, each the official SDK 1.x `Client` with its `StreamableHTTPClientTransport` as it is (no re-initialize on 404, no retry), opened before the load starts.',
    'A session is lost when, after its first failed call, none of its later calls succeeded by the end of the run.',
    'Recovery, 2026: from the end of the fault until every replica answers at least half its fair share of the calls in every 250 ms window for 1 s. 2025: from the end of the fault until every session has answered a call sent after it (a session stays on the replica Envoy re-pinned it to, so balance across replicas is not its measure).',
    ...(values.auth
      ? [
          'Authentication on: a JWT provider for the mesh (KV mcpmesh/policy/_mesh, a local JWKS) and three per-tool rules on the fixture server; every call carries a bearer token that Envoy verifies (jwt_authn, token cache on) and its RBAC checks; tools/list goes through the list filter.',
        ]
      : []),
    '',
    table,
    '',
    ...results.filter((r) => r.failed > 0).map((r) => `Scenario ${r.id} (${r.generation}), failed calls: ${r.failures.join('; ')}.\n`),
    '',
  ].join('\n');
  // The heading as a whole line: one section's name is the start of the other's.
  const at = text.indexOf(`\n${head}\n`);
  const start = at < 0 ? -1 : at + 1;
  const next = start < 0 ? -1 : text.indexOf('\n## ', start + head.length);
  const updated =
    start < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start)}${section}${next < 0 ? '' : text.slice(next + 1)}`;
  writeFileSync(file, updated);
}
if (bad.length > 0) {
  process.stderr.write(`scenarios short of the goal: ${bad.map((r) => r.id).join(', ')}\n`);
  process.exitCode = 1;
}
