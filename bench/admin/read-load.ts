// The admin API under a read load while Envoys converge: convergence of file
// changes measured without load, then with a paced 1000 requests/s of
// GET /api/v1/servers (the heaviest read), in one run; plus the API's latency.
//   node dist/bench/admin/read-load.js --servers 100 --rps 1000 --changes 30

import http from 'node:http';
import { parseArgs } from 'node:util';
import { buildAdminServer } from '../../control-plane/admin/admin-server.js';
import { startMesh } from '../../test/support/mesh.js';
import { freePort } from '../../test/support/ports.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '100' },
    rps: { type: 'string', default: '1000' },
    changes: { type: 'string', default: '30' },
  },
});
const N = Number(values.servers);
const rps = Number(values.rps);
const changes = Number(values.changes);

const percentile = (s: number[], p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;

function config(extraOn: number | undefined) {
  return {
    servers: Array.from({ length: N }, (_, i) => ({
      name: `s${i}`,
      replicas: Array.from({ length: i === extraOn ? 4 : 3 }, (_, k) => `http://127.0.${k + 1}.${(i % 250) + 1}:${20000 + i}/mcp`),
    })),
  };
}

async function main(): Promise<void> {
  const mesh = await startMesh({ config: config(undefined), discoverTools: false });
  const api = buildAdminServer({ backend: mesh.admin, registry: mesh.metrics.registry });
  const port = await freePort();
  await api.listen({ host: '127.0.0.1', port });
  while (!mesh.cp.ads.isConverged()) await new Promise((r) => setTimeout(r, 20));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      http
        .get({ host: '127.0.0.1', port, path: '/api/v1/servers', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(String(res.statusCode)))));
        })
        .on('error', reject);
    });

  async function converge(): Promise<number[]> {
    const out: number[] = [];
    for (let c = 0; c < changes; c++) {
      const g0 = mesh.cp.ads.currentGeneration();
      const started = performance.now();
      const done = new Promise<number>((resolve) => {
        const off = mesh.cp.ads.onConverged((g) => {
          if (g <= g0) return;
          off();
          resolve(performance.now() - started);
        });
      });
      mesh.writeConfig(config(c % 2 === 0 ? (c * 7) % N : undefined));
      out.push(await done);
      await new Promise((r) => setTimeout(r, 50));
    }
    return out.sort((a, b) => a - b);
  }

  const quiet = await converge();
  // Paced open-loop load: one request every 1000/rps ms, whatever the answers do.
  const latencies: number[] = [];
  let errors = 0;
  let sending = true;
  const pending: Promise<void>[] = [];
  const loadStart = performance.now();
  const ticker = (async () => {
    let sent = 0;
    while (sending && performance.now() - loadStart < 120_000) {
      const due = loadStart + (sent * 1000) / rps;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(
        get().then(
          (ms) => void latencies.push(ms),
          () => void errors++,
        ),
      );
      sent++;
    }
    return sent;
  })();
  await new Promise((r) => setTimeout(r, 1000));
  const loaded = await converge();
  sending = false;
  const sent = await ticker;
  await Promise.all(pending);
  const seconds = (performance.now() - loadStart) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      servers: N,
      targetRps: rps,
      achievedRps: Math.round(sent / seconds),
      apiP50Ms: Number(percentile(latencies, 50).toFixed(2)),
      apiP99Ms: Number(percentile(latencies, 99).toFixed(2)),
      apiErrors: errors,
      convergenceQuiet: { p50Ms: Number(percentile(quiet, 50).toFixed(1)), p99Ms: Number(percentile(quiet, 99).toFixed(1)) },
      convergenceUnderLoad: { p50Ms: Number(percentile(loaded, 50).toFixed(1)), p99Ms: Number(percentile(loaded, 99).toFixed(1)) },
    }),
  );
  agent.destroy();
  await api.close();
  await mesh.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
