// Consul watch cost and Consul-change convergence, against a real Consul.
//  1. Connections held open to Consul and requests/s sent to it while health
//     checks flip, for mcpmesh's Consul source and for one blocking query per
//     service (consul-template / Prometheus consul_sd style), in one run.
//  2. A Consul change (health flip, register, deregister) → every Envoy ACKed.
//   node dist/bench/consul/watch-cost.js --services 1000 --changes 40
import http from 'node:http';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ControlPlane } from '../../control-plane/control-plane.js';
import { createControlPlaneMetrics } from '../../control-plane/metrics.js';
import { ConsulSource } from '../../control-plane/sources/consul-source.js';
import { renderBootstrap } from '../../envoy/bootstrap.js';
import { startEnvoy } from '../../envoy/envoy-process.js';
import { BlockingWatch } from '../../lib/consul/blocking-watch.js';
import { ConsulHttp } from '../../lib/consul/consul-http.js';
import { type ConsulAgent, registerService, setCheck, startConsul } from '../../test/support/consul.js';
import { freePort } from '../../test/support/ports.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    changes: { type: 'string', default: '30' },
    'flip-seconds': { type: 'string', default: '10' },
  },
});
const N = Number(values.services);
const logger = pino({ level: 'silent' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Every check's state, so that each flip really changes one. */
const failing = new Set<number>();

async function flips(consul: ConsulAgent, seconds: number): Promise<number> {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const i = (n * 7919) % N;
    const fail = !failing.has(i);
    if (fail) failing.add(i);
    else failing.delete(i);
    await setCheck(consul, `s${i}-1`, fail ? 'fail' : 'pass');
    n++;
    await new Promise((r) => setTimeout(r, 200));
  }
  return n;
}

async function main(): Promise<void> {
  const consul = await startConsul();
  for (let i = 0; i < N; i += 50)
    await Promise.all(
      Array.from({ length: Math.min(50, N - i) }, (_, j) =>
        registerService(consul, { name: `s${i + j}`, id: `s${i + j}-1`, port: 20000 + i + j }),
      ),
    );
  const flipSeconds = Number(values['flip-seconds']);

  // 1a. mcpmesh's source.
  let ours = 0;
  const source = new ConsulSource({
    consulUrl: consul.url,
    logger,
    metrics: { request: () => void ours++, rejected: () => undefined, stale: () => undefined },
  });
  let state = 0;
  await source.start((s) => (state = s.servers.size));
  let oursMaxConn = 0;
  const sampler = setInterval(() => (oursMaxConn = Math.max(oursMaxConn, source.connections())), 20);
  ours = 0;
  const flipCount = await flips(consul, flipSeconds);
  clearInterval(sampler);
  const oursRps = ours / flipSeconds;
  await source.stop();

  // 1b. One blocking query per service.
  let theirs = 0;
  let theirsErrors = 0;
  const client = new ConsulHttp({
    url: consul.url,
    maxSockets: Number.MAX_SAFE_INTEGER,
    observe: (_e, o) => (o === 'ok' ? theirs++ : theirsErrors++),
  });
  const firstErrors: string[] = [];
  const watches = Array.from(
    { length: N },
    (_, i) =>
      new BlockingWatch<unknown>(
        client,
        { path: `/v1/health/service/s${i}`, endpoint: 'health_service' },
        { data: () => undefined, error: (e) => void (firstErrors.length < 3 && firstErrors.push(e.message)) },
      ),
  );
  for (const w of watches) w.start();
  await new Promise((r) => setTimeout(r, 3000));
  let theirsMaxConn = 0;
  const sampler2 = setInterval(() => (theirsMaxConn = Math.max(theirsMaxConn, client.openSockets())), 20);
  theirs = 0;
  theirsErrors = 0;
  await flips(consul, flipSeconds);
  clearInterval(sampler2);
  const perServiceOk = theirs;
  const perServiceErrors = theirsErrors;
  for (const w of watches) w.stop();
  client.close();

  // 2. Consul change → Envoy ACK.
  const metrics = createControlPlaneMetrics();
  const cp = new ControlPlane({
    source: new ConsulSource({ consulUrl: consul.url, logger }),
    logger,
    metrics,
    xdsHost: '127.0.0.1',
    xdsPort: 0,
    listener: { address: '127.0.0.1', port: await freePort() },
    discoverTools: false,
  });
  await cp.start();
  const adminPort = await freePort();
  const envoy = await startEnvoy({ configYaml: renderBootstrap({ nodeId: 'bench-consul', xdsPort: cp.xdsPort, adminPort }), adminPort });
  while (!(cp.clients().length === 1 && cp.ads.isConverged())) await new Promise((r) => setTimeout(r, 20));
  for (const i of failing) await setCheck(consul, `s${i}-1`, 'pass');
  /** Runs a Consul change and resolves with the time until every Envoy ACKed the snapshot it caused. */
  const timed = async (action: () => Promise<void>): Promise<number> => {
    const g0 = cp.ads.currentGeneration();
    const started = performance.now();
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('a change did not converge in 30 s')), 30_000);
      const off = cp.ads.onConverged((g) => {
        if (g <= g0) return;
        clearTimeout(timer);
        off();
        resolve(performance.now() - started);
      });
    });
    await action();
    return done;
  };
  await new Promise((r) => setTimeout(r, 500));
  while (!cp.ads.isConverged()) await new Promise((r) => setTimeout(r, 10));
  const samples: Record<string, number[]> = { health: [], register: [], deregister: [] };
  for (let c = 0; c < Number(values.changes); c++) {
    const target = (c * 7919) % N;
    samples['health']!.push(await timed(() => setCheck(consul, `s${target}-1`, 'fail')));
    await timed(() => setCheck(consul, `s${target}-1`, 'pass'));
    samples['register']!.push(
      await timed(() => registerService(consul, { name: `s${target}`, id: `s${target}-extra`, port: 30000 + target })),
    );
    samples['deregister']!.push(await timed(async () => void (await consul.api('PUT', `/v1/agent/service/deregister/s${target}-extra`))));
  }
  const all = Object.values(samples)
    .flat()
    .sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      services: N,
      servicesSeen: state,
      flipsPerSecond: flipCount / flipSeconds,
      mcpmesh: { maxConnections: oursMaxConn, requestsPerSecond: Number(oursRps.toFixed(1)) },
      watchPerServiceErrors: firstErrors,
      watchPerService: {
        maxConnections: theirsMaxConn,
        requestsPerSecond: Number((perServiceOk / flipSeconds).toFixed(1)),
        failedRequestsPerSecond: Number((perServiceErrors / flipSeconds).toFixed(1)),
      },
      convergence: {
        changes: all.length,
        p50Ms: Number(percentile(all, 50).toFixed(1)),
        p99Ms: Number(percentile(all, 99).toFixed(1)),
        byKind: Object.fromEntries(
          Object.entries(samples).map(([k, v]) => [
            k,
            Number(
              percentile(
                [...v].sort((a, b) => a - b),
                50,
              ).toFixed(1),
            ),
          ]),
        ),
      },
    }),
  );
  await envoy.stop();
  await cp.stop();
  await consul.stop();
  http.globalAgent.destroy();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
