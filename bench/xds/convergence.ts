// Convergence benchmark: a change to mcpmesh.yaml → every connected client has
// ACKed it. Clients are real Envoys (--envoys) and/or simulated ADS clients
// (--sim). Usage:
//   node dist/bench/xds/convergence.js --servers 1000 --variant delta --envoys 2 --sim 0 --changes 40

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { createControlPlaneMetrics } from '../../control-plane/metrics.js';
import { FileSource } from '../../control-plane/sources/file-source.js';
import { renderBootstrap } from '../../envoy/bootstrap.js';
import { type EnvoyProcess, startEnvoy } from '../../envoy/envoy-process.js';
import { freePort } from '../../test/support/ports.js';
import { SimAdsClient } from '../../test/support/sim-ads-client.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '100' },
    variant: { type: 'string', default: 'sotw' },
    envoys: { type: 'string', default: '1' },
    sim: { type: 'string', default: '0' },
    changes: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const servers = Number(values.servers);
const delta = values.variant === 'delta';
const envoyCount = Number(values.envoys);
const simCount = Number(values.sim);
const changes = Number(values.changes);

function configText(extraReplicaOn: number | undefined): string {
  const lines = ['servers:'];
  for (let i = 0; i < servers; i++) {
    lines.push(`  - name: s${i}`, '    replicas:');
    const n = i === extraReplicaOn ? 4 : 3;
    for (let k = 0; k < n; k++) lines.push(`      - http://127.0.${k + 1}.${(i % 250) + 1}:${20000 + i}/mcp`);
  }
  return `${lines.join('\n')}\n`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-bench-'));
  const file = join(dir, 'mcpmesh.yaml');
  writeFileSync(file, configText(undefined));
  const logger = pino({ level: 'silent' });
  const metrics = createControlPlaneMetrics();
  const cp = new ControlPlane({
    source: new FileSource({ file, logger }),
    logger,
    metrics,
    xdsHost: '127.0.0.1',
    xdsPort: 0,
    listener: { address: '127.0.0.1', port: await freePort() },
    discoverTools: false,
    coalesceMs: 2,
  });
  let waiting: { generation: number; resolve: (ms: number) => void } | undefined;
  cp.ads.onConverged((g, ms) => {
    if (waiting && g >= waiting.generation) waiting.resolve(ms);
  });
  // How long the clients took once the snapshot was installed: the rest of a
  // sample is the control plane's (file watch, parse, build).
  const clientMs: number[] = [];
  await cp.start();
  const address = `127.0.0.1:${cp.xdsPort}`;
  const envoys: EnvoyProcess[] = [];
  for (let i = 0; i < envoyCount; i++) {
    const adminPort = await freePort();
    envoys.push(
      await startEnvoy({ configYaml: renderBootstrap({ nodeId: `bench-envoy-${i}`, xdsPort: cp.xdsPort, adminPort, delta }), adminPort }),
    );
  }
  // One in-process simulated client shows what a change sends; a fleet in its
  // own process adds load without adding its own CPU and memory to the figures.
  const sims: SimAdsClient[] = [];
  const probe = new SimAdsClient({ address, nodeId: 'probe', delta, trackNames: false });
  probe.start();
  sims.push(probe);
  const fleet =
    simCount > 1
      ? spawn(
          process.execPath,
          [
            fileURLToPath(new URL('./sim-fleet.js', import.meta.url)),
            '--address',
            address,
            '--count',
            String(simCount - 1),
            ...(delta ? ['--delta'] : []),
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        )
      : undefined;
  if (fleet) await new Promise<void>((resolve) => fleet.stdout!.once('data', () => resolve()));
  const expectClients = envoyCount + Math.max(simCount, 1);
  const t0 = performance.now();
  while (cp.clients().length < expectClients || !cp.ads.isConverged()) {
    if (performance.now() - t0 > 120_000) throw new Error('initial convergence took over 120 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const initialMs = performance.now() - t0;
  const cpuStart = process.cpuUsage();
  const samples: number[] = [];
  const deltaSizes: number[] = [];
  for (let c = 0; c < changes; c++) {
    const target = (c * 7919) % servers;
    const before = sims[0]?.responses.length ?? 0;
    const started = performance.now();
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`change ${c} did not converge in 30 s`)), 30_000);
      waiting = {
        generation: cp.ads.currentGeneration() + 1,
        resolve: (sinceInstalled) => {
          clearTimeout(timer);
          clientMs.push(sinceInstalled);
          resolve(performance.now() - started);
        },
      };
    });
    writeFileSync(file, configText(c % 2 === 0 ? target : undefined));
    samples.push(await done);
    waiting = undefined;
    if (delta && sims[0]) deltaSizes.push(sims[0].responses.slice(before).reduce((n, r) => n + r.resources + r.removed, 0));
    await new Promise((r) => setTimeout(r, 30));
  }
  const cpu = process.cpuUsage(cpuStart);
  const rssPeakMB = Math.round(process.resourceUsage().maxRSS / 1024);
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  samples.sort((a, b) => a - b);
  clientMs.sort((a, b) => a - b);
  const result = {
    servers,
    replicas: servers * 3,
    variant: delta ? 'delta' : 'sotw',
    envoys: envoyCount,
    simulatedClients: simCount,
    changes,
    initialConvergenceMs: Math.round(initialMs),
    p50Ms: Number(percentile(samples, 50).toFixed(1)),
    p99Ms: Number(percentile(samples, 99).toFixed(1)),
    maxMs: Number(samples.at(-1)!.toFixed(1)),
    installedToAckedP50Ms: Number(percentile(clientMs, 50).toFixed(1)),
    installedToAckedP99Ms: Number(percentile(clientMs, 99).toFixed(1)),
    cpuMsPerChange: Number(((cpu.user + cpu.system) / 1000 / changes).toFixed(1)),
    rssMB: Math.round(mem.rss / 1e6),
    rssPeakMB,
    heapUsedMB: Math.round(mem.heapUsed / 1e6),
    externalMB: Math.round((mem.external + mem.arrayBuffers) / 1e6),
    ...(delta && deltaSizes.length ? { resourcesSentPerChangeToOneClient: deltaSizes } : {}),
  };
  console.log(JSON.stringify(result));
  for (const s of sims) s.close();
  fleet?.kill('SIGTERM');
  await Promise.all(envoys.map((e) => e.stop()));
  await cp.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
