// `mcpmesh up --pin-adapters`: which CPU each stdio adapter gets, the command it runs under, and the
// clear error when taskset is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adapterCpus, pinnedArgv, requireTaskset } from '../../../cli/commands/adapter-cpu-pinning.js';

test('adapters take the CPUs round-robin', () => {
  assert.deepEqual(adapterCpus(0, 2), []);
  assert.deepEqual(adapterCpus(1, 2), [0]);
  assert.deepEqual(adapterCpus(5, 2), [0, 1, 0, 1, 0]);
  assert.deepEqual(adapterCpus(3, 1), [0, 0, 0]);
});

test('a CPU count that is not a positive integer is refused', () => {
  assert.throws(() => adapterCpus(2, 0), /positive integer/);
  assert.throws(() => adapterCpus(2, 1.5), /positive integer/);
});

test('the adapter command runs under taskset -c CPU, its arguments unchanged', () => {
  const argv = ['/usr/bin/node', 'mcpmesh.js', 'adapter', '--', 'server', '--flag with space'];
  assert.deepEqual(pinnedArgv(argv, 1), ['taskset', '-c', '1', ...argv]);
});

test('a missing taskset is a clear error', () => {
  assert.throws(() => requireTaskset('/nonexistent/taskset'), /--pin-adapters .*cannot run here/);
});
