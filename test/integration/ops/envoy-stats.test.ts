// A bootstrap with a stats port lets a scraper on another host read Envoy's
// Prometheus stats while the admin endpoint, which can stop Envoy, stays on
// loopback (docker-compose.yml relies on this).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { renderBootstrap } from '../../../envoy/bootstrap.js';
import { type EnvoyProcess, startEnvoy } from '../../../envoy/envoy-process.js';
import { freePorts } from '../../support/ports.js';
import { until } from '../../support/wait.js';

describe('Envoy stats listener', () => {
  let envoy: EnvoyProcess;
  let controlPlane: ChildProcess;
  let statsPort = 0;
  let adminPort = 0;
  before(async () => {
    const [xdsPort, cpAdminPort, envoyAdmin, stats] = (await freePorts(4)) as [number, number, number, number];
    [adminPort, statsPort] = [envoyAdmin, stats];
    // Envoy opens its listeners once its first xDS fetch is done: a control plane with no servers answers it.
    const config = join(mkdtempSync(join(tmpdir(), 'mcpmesh-stats-')), 'mcpmesh.yaml');
    writeFileSync(config, 'servers: []\n');
    controlPlane = spawn(
      process.execPath,
      ['dist/cli/mcpmesh.js', 'control-plane', '--config', config, '--xds-port', String(xdsPort), '--admin-port', String(cpAdminPort)],
      { stdio: 'ignore' },
    );
    envoy = await startEnvoy({ configYaml: renderBootstrap({ nodeId: 'stats-test', xdsPort, adminPort, statsPort }), adminPort });
    await envoy.waitLive();
    await until(async () => (await fetch(`http://127.0.0.1:${statsPort}/`).catch(() => undefined)) !== undefined, 'the stats listener');
  });
  after(async () => {
    await envoy?.stop();
    controlPlane?.kill('SIGTERM');
  });

  test('GET /stats/prometheus is served on the stats port', async () => {
    const res = await fetch(`http://127.0.0.1:${statsPort}/stats/prometheus`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^envoy_server_live\b.* 1$/m);
  });

  test('the admin endpoint is not reachable through it, and Envoy keeps running', async () => {
    for (const [method, path] of [
      ['POST', '/quitquitquit'],
      ['POST', '/healthcheck/fail'],
      ['GET', '/config_dump'],
      ['POST', '/stats/prometheus'],
      ['GET', '/stats/prometheus/../config_dump'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${statsPort}${path}`, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      await res.arrayBuffer();
    }
    const live = await fetch(`http://127.0.0.1:${adminPort}/ready`);
    assert.equal(live.status, 200);
    assert.equal((await live.text()).trim(), 'LIVE');
  });
});
