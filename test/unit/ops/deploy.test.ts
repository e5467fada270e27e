// deploy/ and docker-compose.yml agree with the CLI and its defaults, and
// promtool accepts the Prometheus configuration and rules. (No Docker engine
// here: the compose file is checked by reading it.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { ADAPTER_FLAGS } from '../../../cli/commands/adapter.js';
import { CONTROL_PLANE_FLAGS } from '../../../cli/commands/control-plane.js';
import { ENVOY_BOOTSTRAP_FLAGS } from '../../../cli/commands/envoy-bootstrap.js';
import type { FlagSpecs } from '../../../cli/flags.js';
import { DEFAULT_PORTS } from '../../../lib/mesh-contracts.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  ports?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const FLAGS: Record<string, FlagSpecs> = {
  'control-plane': CONTROL_PLANE_FLAGS,
  adapter: ADAPTER_FLAGS,
  'envoy-bootstrap': ENVOY_BOOTSTRAP_FLAGS,
};

/** mcpmesh argv of a service: its command, or the mcpmesh call inside a shell entrypoint. */
function mcpmeshArgv(s: Service): string[] | undefined {
  if (s.build !== undefined && s.command) return s.command;
  const shell = s.entrypoint?.join(' ');
  const m = shell ? /mcpmesh\.js (.*?)(?: >|$)/.exec(shell) : null;
  return m ? m[1]!.split(/\s+/) : undefined;
}

function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(`--${flag}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

describe('docker-compose.yml', () => {
  test('every service has an image or is built from this repository', () => {
    for (const [name, s] of Object.entries(services)) assert.ok(s.image || s.build, `${name} has no image`);
    assert.match(services['envoy']!.image!, /^envoyproxy\/envoy:v1\.40/);
    assert.match(services['consul']!.image!, /^hashicorp\/consul:1\.22\./);
  });

  test('every mcpmesh command is a real subcommand with real flags', () => {
    let checked = 0;
    for (const [name, s] of Object.entries(services)) {
      const argv = mcpmeshArgv(s);
      if (!argv) continue;
      const [sub, ...rest] = argv;
      const specs = FLAGS[sub!];
      assert.ok(specs, `${name}: unknown subcommand ${sub}`);
      const own = rest.indexOf('--') >= 0 ? rest.slice(0, rest.indexOf('--')) : rest;
      for (const a of own.filter((x) => x.startsWith('--'))) assert.ok(specs[a.slice(2)], `${name}: ${sub} has no flag ${a}`);
      checked++;
    }
    assert.equal(checked, 4, 'control plane, bootstrap writer and two adapters');
  });

  test('ports and addresses match the CLI defaults and each other', () => {
    const cp = mcpmeshArgv(services['control-plane']!)!;
    assert.equal(Number(flagValue(cp, 'xds-port')), DEFAULT_PORTS.xds);
    assert.equal(Number(flagValue(cp, 'admin-port')), DEFAULT_PORTS.adminApi);
    assert.equal(Number(flagValue(cp, 'listen-port')), DEFAULT_PORTS.envoyEgress);
    assert.deepEqual(services['control-plane']!.ports, [`127.0.0.1:${DEFAULT_PORTS.adminApi}:${DEFAULT_PORTS.adminApi}`]);
    const boot = mcpmeshArgv(services['envoy-bootstrap']!)!;
    assert.equal(flagValue(boot, 'xds'), `control-plane:${DEFAULT_PORTS.xds}`);
    assert.equal(Number(flagValue(boot, 'admin-port')), DEFAULT_PORTS.envoyAdmin);
    assert.equal(flagValue(boot, 'admin-address'), '127.0.0.1');
    assert.equal(Number(flagValue(boot, 'stats-port')), DEFAULT_PORTS.envoyStats);
    assert.deepEqual(services['envoy']!.ports, [`127.0.0.1:${DEFAULT_PORTS.envoyEgress}:${DEFAULT_PORTS.envoyEgress}`]);
    for (const a of ['adapter-1', 'adapter-2']) {
      const argv = mcpmeshArgv(services[a]!)!;
      assert.equal(flagValue(argv, 'consul'), 'http://consul:8500');
      assert.equal(flagValue(argv, 'advertise-address'), a);
    }
    const prom = readFileSync('deploy/prometheus/prometheus.yml', 'utf8');
    assert.match(prom, new RegExp(`control-plane:${DEFAULT_PORTS.adminApi}`));
    assert.match(prom, new RegExp(`envoy:${DEFAULT_PORTS.envoyStats}`));
  });

  test('safe as shipped: ports on loopback, no Envoy admin or xDS published, no token in the file', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const port of s.ports ?? []) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port} beyond loopback`);
      const published = (s.ports ?? []).map((p) => Number(p.split(':')[2]));
      assert.ok(!published.includes(DEFAULT_PORTS.envoyAdmin), `${name} publishes Envoy's admin port`);
      assert.ok(!published.includes(DEFAULT_PORTS.xds), `${name} publishes the xDS port`);
    }
    const text = readFileSync('docker-compose.yml', 'utf8');
    assert.doesNotMatch(text, /change-me/);
    assert.match(text, /MCPMESH_ADMIN_TOKEN: \$\{MCPMESH_ADMIN_TOKEN:-\}/, 'the admin token comes from the environment');
    assert.match(text, /development stack/, 'the file says Consul -dev is for development');
    assert.equal((parse(text) as Record<string, unknown>)['name'], undefined, 'docker-compose v1 refuses a top-level name');
  });
});

describe('Prometheus configuration', () => {
  const promtool = (args: string[]) => spawnSync('promtool', args, { encoding: 'utf8' });
  test('promtool check config and rules pass', () => {
    const probe = promtool(['--version']);
    assert.equal(probe.error, undefined, 'promtool is not installed: run scripts/setup.sh prometheus (Debian package prometheus)');
    const config = promtool(['check', 'config', 'deploy/prometheus/prometheus.yml']);
    assert.equal(config.status, 0, config.stdout + config.stderr);
    const rules = promtool(['check', 'rules', 'deploy/prometheus/rules/mcpmesh-slo.yml']);
    assert.equal(rules.status, 0, rules.stdout + rules.stderr);
    const federation = readFileSync('deploy/prometheus/federation.example.yml', 'utf8');
    assert.match(federation, /mcpmesh:\.\*/);
  });

  test('the Grafana dashboard is valid JSON whose queries use recorded series', () => {
    const dash = JSON.parse(readFileSync('deploy/grafana/mcpmesh-dashboard.json', 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const rules = readFileSync('deploy/prometheus/rules/mcpmesh-slo.yml', 'utf8');
    for (const p of dash.panels)
      for (const t of p.targets) {
        for (const recorded of t.expr.match(/mcpmesh:[a-z0-9_:]+/g) ?? [])
          assert.ok(rules.includes(`record: ${recorded}`), `dashboard uses ${recorded}, which no rule records`);
      }
  });
});
