// docker-compose.tls.yml, read as Compose merges it onto docker-compose.yml
// (no Docker engine here): every mcpmesh command has real flags, every
// certificate file a service names is one the `certs` service's dev-ca call
// makes, the server certificate carries the names Envoy and the adapters are
// reached by, and Prometheus' TLS configuration passes promtool with those
// files and differs from the plain one by the client certificate only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ADAPTER_FLAGS } from '../../../cli/commands/adapter.js';
import { CONTROL_PLANE_FLAGS } from '../../../cli/commands/control-plane.js';
import { DEV_CA_FLAGS } from '../../../cli/commands/dev-ca.js';
import { ENVOY_BOOTSTRAP_FLAGS } from '../../../cli/commands/envoy-bootstrap.js';
import type { FlagSpecs } from '../../../cli/flags.js';
import { makeDevMesh } from '../../../lib/dev-ca.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
const read = (f: string) => parse(readFileSync(f, 'utf8'), { merge: true }) as { services: Record<string, Service> };
const base = read('docker-compose.yml').services;
const tls = read('docker-compose.tls.yml').services;
/** A service as Compose runs it with both files: the override's keys replace the base's (volumes are listed whole in both). */
const service = (name: string): Service => ({ ...base[name], ...tls[name] });

const FLAGS: Record<string, FlagSpecs> = {
  'control-plane': CONTROL_PLANE_FLAGS,
  adapter: ADAPTER_FLAGS,
  'envoy-bootstrap': ENVOY_BOOTSTRAP_FLAGS,
  'dev-ca': DEV_CA_FLAGS,
};

/** mcpmesh argv of a service: its command, or the mcpmesh call inside a shell entrypoint. */
function mcpmeshArgv(s: Service): string[] | undefined {
  if (s.build !== undefined && s.command) return s.command;
  const shell = s.entrypoint?.join(' ');
  const m = shell ? /mcpmesh\.js (.*?)(?: >|;|$)/.exec(shell) : null;
  return m ? m[1]!.split(/\s+/) : undefined;
}

function flagValues(argv: readonly string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === `--${flag}` ? [argv[i + 1]!] : []));
}

let certDir: string;
before(() => {
  // The certs service's own dev-ca call, into a directory of the test's.
  const argv = mcpmeshArgv(tls['certs']!)!;
  assert.equal(argv[0], 'dev-ca');
  certDir = mkdtempSync(join(tmpdir(), 'mcpmesh-compose-tls-'));
  makeDevMesh(join(certDir, 'certs'), {
    nodeIds: flagValues(argv, 'node-id'),
    clients: flagValues(argv, 'client'),
    hosts: flagValues(argv, 'host'),
  });
});
after(() => rmSync(certDir, { recursive: true, force: true }));

describe('docker-compose.tls.yml', () => {
  test('it overrides services of docker-compose.yml and adds the two that make certificates and policy', () => {
    for (const name of Object.keys(tls))
      assert.ok(base[name] || name === 'certs' || name === 'tls-policy', `${name} is not in docker-compose.yml`);
    for (const name of ['certs', 'tls-policy']) assert.equal(tls[name]!.image, 'mcpmesh:local');
  });

  test('every mcpmesh command is a real subcommand with real flags', () => {
    let checked = 0;
    for (const name of Object.keys(tls)) {
      const argv = mcpmeshArgv(service(name));
      if (!argv) continue;
      const [sub, ...rest] = argv;
      const specs = FLAGS[sub!];
      assert.ok(specs, `${name}: unknown subcommand ${sub}`);
      const own = rest.indexOf('--') >= 0 ? rest.slice(0, rest.indexOf('--')) : rest;
      for (const a of own.filter((x) => x.startsWith('--'))) assert.ok(specs[a.slice(2)], `${name}: ${sub} has no flag ${a}`);
      checked++;
    }
    assert.equal(checked, 5, 'certs, control plane, bootstrap writer and two adapters');
  });

  test('every certificate file a service names is made by the certs service, and mounted where it is read', () => {
    const named = new Set<string>();
    for (const name of Object.keys(tls)) {
      const s = service(name);
      const text = JSON.stringify([s.command ?? [], s.entrypoint ?? []]);
      for (const m of text.matchAll(/\/certs\/[\w.-]+/g)) {
        named.add(m[0]);
        if (name !== 'certs') assert.ok(s.volumes?.includes('mesh-certs:/certs:ro'), `${name} reads ${m[0]} without the volume`);
      }
    }
    assert.equal(named.size, 7, [...named].join(' '));
    for (const f of named) assert.ok(existsSync(join(certDir, f)), `${f} is not made by dev-ca`);
    // Envoy reads the files the control plane names (upstream client certificate) at the same paths.
    assert.ok(service('envoy').volumes?.includes('mesh-certs:/certs:ro'));
    assert.equal(service('envoy').environment?.['ENVOY_UID'], '101', 'the uid the certs service gives the Envoy key to');
  });

  test('the server certificate names the control plane and both adapters; the policy checks those names', () => {
    const san = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(certDir, 'certs/server.crt')], {
      encoding: 'utf8',
    });
    assert.equal(san.status, 0, san.stderr);
    for (const host of ['control-plane', 'adapter-1', 'adapter-2']) assert.match(san.stdout, new RegExp(`DNS:${host}\\b`));
    const boot = mcpmeshArgv(service('envoy-bootstrap'))!;
    assert.equal(flagValues(boot, 'xds')[0], 'control-plane:18000', 'the default xDS server name is this host');
    const policy = tls['tls-policy']!.entrypoint!.join(' ');
    const adapters = ['adapter-1', 'adapter-2'];
    assert.match(policy, /san: \['adapter-1', 'adapter-2'\]/);
    for (const a of adapters) {
      const argv = mcpmeshArgv(service(a))!;
      assert.deepEqual(flagValues(argv, 'advertise-address'), [a]);
      // Consul runs in its own container: the plain health port on every interface (the check goes to the advertised address).
      assert.deepEqual(flagValues(argv, 'health-address'), ['0.0.0.0']);
      assert.deepEqual(flagValues(argv, 'tls-mcp-client-uri'), ['spiffe://mcpmesh/envoy/']);
    }
  });

  test("Prometheus' TLS configuration: promtool passes with the dev-ca files; it is the plain one plus the client certificate", () => {
    const plain = readFileSync('deploy/prometheus/prometheus.yml', 'utf8');
    const withTls = readFileSync('deploy/prometheus/prometheus.tls.yml', 'utf8');
    const body = (t: string) => t.slice(t.indexOf('global:'));
    assert.equal(
      body(withTls).replace(/\n {4}tls_config:\n(?: {6}.*\n?)+/, '\n'),
      body(plain).replace(/\n {4}# tls_config:\n(?: {4}# {2}.*\n?)+/, '\n'),
    );
    assert.match(service('prometheus').command!.join(' '), /--config\.file=\/etc\/prometheus\/prometheus\.tls\.yml/);
    assert.ok(service('prometheus').volumes?.includes('mesh-certs:/etc/mcpmesh:ro'));
    const copy = join(certDir, 'prometheus.tls.yml');
    writeFileSync(
      copy,
      withTls
        .replaceAll('/etc/mcpmesh/', `${join(certDir, 'certs')}/`)
        .replace('rules/*.yml', join(process.cwd(), 'deploy/prometheus/rules/*.yml')),
    );
    const check = spawnSync('promtool', ['check', 'config', copy], { encoding: 'utf8' });
    assert.equal(check.error, undefined, 'promtool is not installed: run scripts/setup.sh prometheus (Debian package prometheus)');
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });
});
