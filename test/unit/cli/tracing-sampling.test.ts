// MCPMESH_TRACING_SAMPLING is one variable for the control plane (Envoy's
// percent) and the adapter (its percent for calls with no context): both
// commands read it with the same parser, so a value means the same number to
// both or is refused by both.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ADAPTER_FLAGS, tracingFlags } from '../../../cli/commands/adapter.js';
import { CONTROL_PLANE_FLAGS } from '../../../cli/commands/control-plane.js';
import { observabilityFlags } from '../../../cli/commands/observability-flags.js';
import { envName, parseFlags, UsageError } from '../../../cli/flags.js';
import { TRACING_SAMPLING_ENV } from '../../../lib/mesh-contracts.js';
import { parsePercent } from '../../../lib/percent.js';

const COLLECTOR = 'http://127.0.0.1:4318';

function controlPlane(env: NodeJS.ProcessEnv, argv: string[] = []): number | undefined {
  return observabilityFlags(parseFlags(['--config', 'x.yaml', ...argv], CONTROL_PLANE_FLAGS, env)).tracing?.sampling;
}

function adapter(env: NodeJS.ProcessEnv, argv: string[] = []): number | undefined {
  return tracingFlags(parseFlags(['--name', 'x', '--tracing-collector', COLLECTOR, ...argv], ADAPTER_FLAGS, env)).tracing?.sampling;
}

function outcome(read: () => number | undefined): number | undefined | 'refused' {
  try {
    return read();
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    assert.match(err.message, /--tracing-sampling \(MCPMESH_TRACING_SAMPLING\) must be a percent from 0 to 100/);
    return 'refused';
  }
}

describe('MCPMESH_TRACING_SAMPLING', () => {
  test('is the variable of both commands’ --tracing-sampling', () => {
    assert.equal(envName('tracing-sampling'), TRACING_SAMPLING_ENV);
    assert.ok('tracing-sampling' in CONTROL_PLANE_FLAGS && 'tracing-sampling' in ADAPTER_FLAGS);
  });

  const cases: [string, number | 'refused'][] = [
    ['100', 100],
    ['0', 0],
    ['1', 1],
    ['0.5', 0.5],
    ['.25', 0.25],
    [' 10 ', 10],
    ['12.', 12],
    ['101', 'refused'],
    ['-1', 'refused'],
    ['abc', 'refused'],
    ['1e1', 'refused'],
    ['0x10', 'refused'],
    ['Infinity', 'refused'],
    [' ', 'refused'],
    ['50%', 'refused'],
  ];
  for (const [text, want] of cases) {
    test(`"${text}" reads as ${String(want)} in the control plane and in the adapter`, () => {
      const env = { [TRACING_SAMPLING_ENV]: text };
      assert.equal(
        outcome(() => controlPlane(env)),
        want,
      );
      assert.equal(
        outcome(() => adapter(env)),
        want,
      );
      assert.equal(want === 'refused' ? undefined : want, parsePercent(text));
    });
  }

  test('the flag wins over the variable in both', () => {
    const env = { [TRACING_SAMPLING_ENV]: '100' };
    assert.equal(controlPlane(env, ['--tracing-sampling', '2']), 2);
    assert.equal(adapter(env, ['--tracing-sampling', '2']), 2);
  });

  test('left out: the control plane leaves it to the source, the adapter traces no context-less call', () => {
    assert.equal(controlPlane({}), undefined);
    assert.equal(adapter({}), 0);
  });

  test('a bad variable is refused by the adapter even without a collector', () => {
    const p = parseFlags(['--name', 'x'], ADAPTER_FLAGS, { [TRACING_SAMPLING_ENV]: 'lots' });
    assert.throws(() => tracingFlags(p), UsageError);
  });

  test('each command refuses a bad variable at start, with the same words (exit 2)', () => {
    const cli = join(process.cwd(), 'dist/cli/mcpmesh.js');
    const env = { ...process.env, [TRACING_SAMPLING_ENV]: 'abc', MCPMESH_LOG_LEVEL: 'silent' };
    for (const args of [
      ['up', '--config', 'examples/mcpmesh.yaml'],
      ['control-plane', '--config', 'examples/mcpmesh.yaml'],
      ['adapter', '--name', 'x', '--', process.execPath, '-e', ''],
    ]) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 20_000 });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /--tracing-sampling \(MCPMESH_TRACING_SAMPLING\) must be a percent from 0 to 100 such as 1 or 0\.5, got "abc"/,
      );
    }
  });
});
