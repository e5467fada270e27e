// The whole mesh for the fault suite, every part real: a Consul agent, three
// `mcpmesh adapter` processes (pool of 2, the fixture stdio server) that
// register themselves in it, the control plane on the Consul source and a real
// Envoy. Each replica keeps its port across restarts, as a replica restarted
// by its supervisor would.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterName } from '../../control-plane/envoy/clusters.js';
import { startAdapterProcess, waitFor, type AdapterProcess } from '../support/adapter-fixture.js';
import { startConsul, type ConsulAgent } from '../support/consul.js';
import { clusterHostStatus, startMesh, type Mesh } from '../support/mesh.js';
import { freePorts } from '../support/ports.js';

export const SERVER = 'fixture';
export const REPLICAS = ['r0', 'r1', 'r2'] as const;
const POOL = 2;

/**
 * The operator's policy for the fixture server: Envoy health-checks the
 * adapters' /readyz, and `slow` (a quick idempotent tool) gets a per-try
 * timeout, so a call on a replica that hangs is retried on another one.
 */
export const FAULT_POLICY = {
  healthCheck: { path: '/readyz', interval: '500ms', timeout: '250ms', unhealthyThreshold: 1, healthyThreshold: 1 },
  tools: { slow: { retry: { perTryTimeout: '1s' } } },
};

export interface FaultMesh {
  readonly consul: ConsulAgent;
  readonly mesh: Mesh;
  readonly url: string;
  replica(i: number): AdapterProcess;
  /** Consul service id of replica i. */
  serviceId(i: number): string;
  /** Starts replica i again on its port; extra fixture arguments for this run only. */
  startReplica(i: number, fixtureArgs?: readonly string[]): Promise<AdapterProcess>;
  /** SIGTERM, and the exit code once it has drained. */
  stopReplica(i: number): Promise<number | null>;
  /** The latency factor of replica i's `slow` tool. */
  setLatency(i: number, factor: number): void;
  /** Every replica in Envoy's cluster, healthy and not ejected. */
  waitAllHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startFaultMesh(): Promise<FaultMesh> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-faults-'));
  const consul = await startConsul();
  const ports = await freePorts(REPLICAS.length);
  const latencyFile = (i: number) => join(dir, `r${i}.latency`);
  const procs: (AdapterProcess | undefined)[] = [];
  const startReplica = async (i: number, fixtureArgs: readonly string[] = []) => {
    const p = await startAdapterProcess(
      SERVER,
      POOL,
      ['--port', String(ports[i]), '--consul', consul.url, '--drain-timeout', '5s'],
      ['--label', `r${i}`, '--latency-file', latencyFile(i), ...fixtureArgs],
    );
    procs[i] = p;
    return p;
  };
  await consul.api('PUT', `/v1/kv/mcpmesh/policy/${SERVER}`, FAULT_POLICY);
  try {
    await Promise.all(REPLICAS.map((_, i) => startReplica(i)));
    const mesh = await startMesh({ consulUrl: consul.url });
    const fm: FaultMesh = {
      consul,
      mesh,
      url: mesh.agentUrl(SERVER),
      replica: (i) => procs[i]!,
      serviceId: (i) => `${SERVER}-127.0.0.1-${ports[i]}`,
      startReplica,
      async stopReplica(i) {
        const p = procs[i]!;
        p.child.kill('SIGTERM');
        return p.exited;
      },
      setLatency: (i, factor) => writeFileSync(latencyFile(i), String(factor)),
      async waitAllHealthy(timeoutMs = 20_000) {
        await waitFor(
          async () => {
            const hosts = await clusterHostStatus(mesh.adminUrl, clusterName(SERVER));
            return hosts.length === REPLICAS.length && hosts.every((h) => h.healthy);
          },
          'every replica healthy in Envoy',
          timeoutMs,
        );
      },
      async stop() {
        await mesh.stop();
        for (const p of procs) p?.child.kill('SIGKILL');
        await Promise.all(procs.map((p) => p?.exited));
        await consul.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await fm.waitAllHealthy();
    return fm;
  } catch (err) {
    for (const p of procs) p?.child.kill('SIGKILL');
    await consul.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
