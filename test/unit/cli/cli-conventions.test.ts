// The mcpmesh binary's conventions: asked-for output (help, version) on stdout
// with exit 0; usage errors on stderr with exit 2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const cli = join(process.cwd(), 'dist/cli/mcpmesh.js');
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, MCPMESH_CONFIG: '' } });

describe('mcpmesh CLI conventions', () => {
  for (const flag of ['--version', '-V']) {
    test(`${flag} prints the package version on stdout, exit 0`, () => {
      const r = run(flag);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
      assert.equal(r.stderr, '');
    });
  }

  for (const args of [['--help'], ['-h'], ['help']]) {
    test(`${args.join(' ')} prints usage on stdout, exit 0`, () => {
      const r = run(...args);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: mcpmesh <command>/);
      assert.match(r.stdout, /control-plane/);
      assert.equal(r.stderr, '');
    });
  }

  test("help COMMAND and COMMAND --help print that command's options on stdout, exit 0", () => {
    for (const args of [
      ['help', 'control-plane'],
      ['control-plane', '--help'],
      ['adapter', '--help'],
      ['envoy-bootstrap', '--help'],
      ['up', '--help'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: mcpmesh \S+/, args.join(' '));
      assert.equal(r.stderr, '', args.join(' '));
    }
    assert.match(run('help', 'control-plane').stdout, /--envoy-admin-url/);
  });

  test('no arguments: usage on stderr, nothing on stdout, exit 2', () => {
    const r = run();
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /a command is required/);
    assert.match(r.stderr, /Usage: mcpmesh <command>/);
  });

  test('usage errors: stderr, exit 2', () => {
    for (const args of [
      ['frobnicate'],
      ['--frobnicate'],
      ['control-plane', '--no-such-flag'],
      ['control-plane'],
      ['control-plane', '--config', 'x.yaml', '--envoy-admin-url', 'not a url'],
      ['envoy-bootstrap'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.equal(r.stdout, '', args.join(' '));
      assert.notEqual(r.stderr, '', args.join(' '));
    }
  });
});
