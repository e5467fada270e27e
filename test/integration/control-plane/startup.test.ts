// A (re)starting control plane with an ADS client already connected, against a
// real MCP upstream that is slow to answer tools/list: the first snapshot waits
// for the tools, so the client never sees routes without them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { ControlPlane } from '../../../control-plane/control-plane.js';
import { createControlPlaneMetrics } from '../../../control-plane/metrics.js';
import { FileSource } from '../../../control-plane/sources/file-source.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { startMcpUpstream } from '../../support/mcp-upstream.js';
import { freePort } from '../../support/ports.js';
import { SimAdsClient } from '../../support/sim-ads-client.js';
import { until } from '../../support/wait.js';

test('a client connected while the control plane starts gets one route configuration, with the tools', async () => {
  const upstream = await startMcpUpstream({ id: 'slow-tools' });
  upstream.setDelayMs(300);
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-startup-'));
  const file = join(dir, 'mcpmesh.yaml');
  writeFileSync(file, stringify({ servers: [{ name: 'tools', replicas: [upstream.url] }] }));
  const logger = pino({ level: 'silent' });
  const metrics = createControlPlaneMetrics();
  const xdsPort = await freePort();
  const cp = new ControlPlane({
    source: new FileSource({ file, logger }),
    logger,
    metrics,
    xdsHost: '127.0.0.1',
    xdsPort,
    listener: { address: '127.0.0.1', port: await freePort() },
  });
  const sim = new SimAdsClient({ address: `127.0.0.1:${xdsPort}`, nodeId: 'early', trackNames: true });
  try {
    const starting = cp.start();
    await until(() => cp.xdsPort === xdsPort, 'xDS port bound');
    sim.start();
    await until(() => cp.clients().length === 1, 'client connected before the first snapshot');
    await starting;
    await until(() => cp.ads.isConverged() && sim.acked.has(TYPE.route), 'routes ACKed');
    assert.equal(cp.ads.currentGeneration(), 1, 'one snapshot installed at start');
    const routeResponses = sim.responses.filter((r) => r.type === TYPE.route);
    assert.equal(routeResponses.length, 1, 'one route configuration sent');
    const tools = cp
      .currentCatalog()
      .servers.find((s) => s.name === 'tools')
      ?.toolRoutes.map((t) => t.tool);
    assert.ok(tools?.includes('echo'), `tools known at the first snapshot: ${JSON.stringify(tools)}`);
  } finally {
    sim.close();
    await cp.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
