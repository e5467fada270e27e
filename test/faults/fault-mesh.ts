// The whole mesh for the fault suite, every part real: a Consul agent, three
// `mcpmesh adapter` processes (pool of 2, the fixture stdio server) that
// register themselves in it, the control plane on the Consul source and a real
// Envoy. Each replica keeps its port across restarts, as a replica restarted
// by its supervisor would. The control plane runs in this process (so that a
// scenario can reach into its xDS server), or as `mcpmesh control-plane` in a
// process of its own (so that a scenario can kill it).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlPlane } from '../../control-plane/control-plane.js';
import { clusterName } from '../../control-plane/envoy/clusters.js';
import { renderBootstrap } from '../../envoy/bootstrap.js';
import { type EnvoyProcess, startEnvoy } from '../../envoy/envoy-process.js';
import { type AdapterProcess, startAdapterProcess } from '../support/adapter-fixture.js';
import { type ConsulAgent, startConsul } from '../support/consul.js';
import { clusterHostStatus, type Mesh, startMesh, statValue } from '../support/mesh.js';
import { freePorts } from '../support/ports.js';
import { until } from '../support/wait.js';
import { faultAuth } from './fault-auth.js';
import { probeCall } from './tool-load.js';

const MCPMESH_CLI = fileURLToPath(new URL('../../cli/mcpmesh.js', import.meta.url));

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
  /** The agent URL of the fixture server through Envoy. */
  readonly url: string;
  /** What every request through Envoy carries: the load's bearer token with `auth`, else nothing. */
  readonly headers: Readonly<Record<string, string>>;
  readonly envoyAdminUrl: string;
  /** The in-process control plane; undefined when it runs as a process of its own. */
  readonly cp: ControlPlane | undefined;
  /** SIGKILL of the control plane's process (process mode only). */
  killControlPlane(): Promise<void>;
  /** Starts the control plane's process again on its ports, and waits until Envoy is connected. */
  startControlPlane(): Promise<void>;
  replica(i: number): AdapterProcess;
  /** Consul service id of replica i. */
  serviceId(i: number): string;
  /** Starts replica i again on its port. */
  startReplica(i: number): Promise<AdapterProcess>;
  /** SIGTERM, and the exit code once it has drained. */
  stopReplica(i: number): Promise<number | null>;
  /** The latency factor of replica i's `slow` tool. */
  setLatency(i: number, factor: number): void;
  /** From now on, replica i's server processes exit once they have had N tools/calls (0: never), without a restart. */
  setCrashEvery(i: number, calls: number): void;
  /** Every replica in Envoy's cluster, healthy and not ejected. */
  waitAllHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `mcpmesh control-plane` as its own process, with the Envoy it drives. */
interface ProcessMesh {
  readonly url: string;
  readonly adminUrl: string;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function startProcessMesh(consulUrl: string): Promise<ProcessMesh> {
  const [xdsPort, apiPort, listenPort, adminPort] = await freePorts(4);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    child = spawn(
      process.execPath,
      [
        MCPMESH_CLI,
        'control-plane',
        '--consul',
        consulUrl,
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(apiPort),
        '--listen-port',
        String(listenPort),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, MCPMESH_LOG_LEVEL: process.env['MCPMESH_TEST_LOG'] ?? 'warn' },
      },
    );
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4_000)));
    await until(
      async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`).catch(() => undefined))?.ok === true,
      'the control plane ready',
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${stderr}`);
    });
  };
  const kill = async () => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  };
  await start();
  let envoy: EnvoyProcess;
  try {
    envoy = await startEnvoy({
      configYaml: renderBootstrap({ nodeId: `faults-${process.pid}-${xdsPort}`, xdsPort: xdsPort!, adminPort: adminPort!, delta: false }),
      adminPort: adminPort!,
    });
  } catch (err) {
    await kill();
    throw err;
  }
  const connected = async () => (await statValue(adminUrl, 'control_plane.connected_state')) === 1;
  return {
    url: `http://127.0.0.1:${listenPort}/mcp/${SERVER}`,
    adminUrl,
    kill,
    async start() {
      await start();
      await until(connected, 'Envoy connected to the restarted control plane', 20_000);
    },
    async stop() {
      await envoy.stop();
      await kill();
    },
  };
}

export interface FaultMeshOptions {
  readonly controlPlane?: 'in-process' | 'process';
  /** JWT on every request and per-tool rules on the fixture server (fault-auth.ts). */
  readonly auth?: boolean;
}

export async function startFaultMesh(opts: FaultMeshOptions = {}): Promise<FaultMesh> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-faults-'));
  const auth = opts.auth === true ? await faultAuth(dir) : undefined;
  const headers = auth?.headers ?? {};
  const consul = await startConsul();
  const ports = await freePorts(REPLICAS.length);
  const latencyFile = (i: number) => join(dir, `r${i}.latency`);
  const crashFile = (i: number) => join(dir, `r${i}.crash`);
  const procs: (AdapterProcess | undefined)[] = [];
  const startReplica = async (i: number) => {
    const p = await startAdapterProcess(
      SERVER,
      POOL,
      ['--port', String(ports[i]), '--consul', consul.url, '--drain-timeout', '5s'],
      ['--label', `r${i}`, '--latency-file', latencyFile(i), '--crash-file', crashFile(i)],
    );
    procs[i] = p;
    return p;
  };
  if (auth !== undefined) await consul.api('PUT', '/v1/kv/mcpmesh/policy/_mesh', { auth: auth.mesh });
  await consul.api('PUT', `/v1/kv/mcpmesh/policy/${SERVER}`, auth === undefined ? FAULT_POLICY : { ...FAULT_POLICY, auth: auth.policy });
  try {
    await Promise.all(REPLICAS.map((_, i) => startReplica(i)));
    const inProcess: Mesh | undefined = opts.controlPlane === 'process' ? undefined : await startMesh({ consulUrl: consul.url });
    const ownProcess: ProcessMesh | undefined = inProcess === undefined ? await startProcessMesh(consul.url) : undefined;
    const envoyAdminUrl = inProcess?.adminUrl ?? ownProcess!.adminUrl;
    const processMode = (what: string): ProcessMesh => {
      if (ownProcess === undefined) throw new Error(`${what}: the control plane runs in this process`);
      return ownProcess;
    };
    const fm: FaultMesh = {
      consul,
      url: inProcess?.agentUrl(SERVER) ?? ownProcess!.url,
      headers,
      envoyAdminUrl,
      cp: inProcess?.cp,
      killControlPlane: () => processMode('kill').kill(),
      startControlPlane: () => processMode('start').start(),
      replica: (i) => procs[i]!,
      serviceId: (i) => `${SERVER}-127.0.0.1-${ports[i]}`,
      startReplica,
      async stopReplica(i) {
        const p = procs[i]!;
        p.child.kill('SIGTERM');
        return p.exited;
      },
      setLatency: (i, factor) => writeFileSync(latencyFile(i), String(factor)),
      setCrashEvery: (i, calls) => writeFileSync(crashFile(i), String(calls)),
      async waitAllHealthy(timeoutMs = 20_000) {
        await until(
          async () => {
            const hosts = await clusterHostStatus(envoyAdminUrl, clusterName(SERVER));
            return hosts.length === REPLICAS.length && hosts.every((h) => h.healthy);
          },
          'every replica healthy in Envoy',
          timeoutMs,
        );
        // Endpoints are ACKed before the listener (push order), so healthy
        // hosts do not yet mean that the listener takes connections.
        await until(async () => (await probeCall(fm.url, headers)) === 200, 'a call through the Envoy listener answered', timeoutMs);
      },
      async stop() {
        await inProcess?.stop();
        await ownProcess?.stop();
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
