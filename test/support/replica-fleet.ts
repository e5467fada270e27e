// Several `mcpmesh adapter` replicas of the fixture server behind the mesh, as
// the fleet tests start them, and what those tests read from them: every
// replica's own /metrics, and Envoy's view of the fleet.
import assert from 'node:assert/strict';
import { clusterName } from '../../control-plane/envoy/clusters.js';
import { type AdapterProcess, startAdapterProcess } from './adapter-fixture.js';
import { clusterHostStatus, type Mesh, startMesh } from './mesh.js';
import { postToolCall } from './modern-call.js';
import { until } from './wait.js';

export const FLEET_SERVER = 'fixture';

/** Envoy's active health check, fast enough that a test sees a replica come and go within a second. */
export const FAST_HEALTH_CHECK = { path: '/readyz', interval: '250ms', timeout: '200ms', unhealthyThreshold: 1, healthyThreshold: 1 };

export interface ReplicaOptions {
  /** How many replicas (default 3). */
  readonly count?: number;
  /** Processes in each replica's pool. */
  readonly pool: number;
  /** `mcpmesh adapter` flags of every replica. */
  readonly args?: readonly string[];
  /** Arguments for the fixture server, by the replica's index. */
  readonly fixtureArgs?: readonly string[] | ((index: number) => readonly string[]);
  readonly env?: NodeJS.ProcessEnv;
}

export function startReplicas(opts: ReplicaOptions): Promise<AdapterProcess[]> {
  const { count = 3, pool, args = [], fixtureArgs = [], env = {} } = opts;
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startAdapterProcess(FLEET_SERVER, pool, args, typeof fixtureArgs === 'function' ? fixtureArgs(i) : fixtureArgs, env),
    ),
  );
}

export interface FleetPolicyOptions {
  /** Envoy health-checks each replica with FAST_HEALTH_CHECK (default true). */
  readonly healthCheck?: boolean;
  /** More of the server's policy (timeouts). */
  readonly policy?: Record<string, unknown>;
}

/** The mesh config naming `replicas` as the one server's replicas. */
export function fleetConfig(replicas: readonly AdapterProcess[], opts: FleetPolicyOptions = {}): object {
  const policy = { ...opts.policy, ...((opts.healthCheck ?? true) ? { healthCheck: FAST_HEALTH_CHECK } : {}) };
  return {
    servers: [{ name: FLEET_SERVER, replicas: replicas.map((r) => r.url), ...(Object.keys(policy).length > 0 ? { policy } : {}) }],
  };
}

export interface ReplicaFleet {
  readonly mesh: Mesh;
  readonly replicas: readonly AdapterProcess[];
  /** Stops the mesh, then kills every replica. */
  stop(): Promise<void>;
}

/** Replicas first, then the mesh on a file config naming them; the caller waits for whatever serving means to it. */
export async function startReplicaFleet(opts: ReplicaOptions & FleetPolicyOptions): Promise<ReplicaFleet> {
  const replicas = await startReplicas(opts);
  let mesh: Mesh;
  try {
    mesh = await startMesh({ config: fleetConfig(replicas, opts) });
  } catch (err) {
    for (const r of replicas) r.child.kill('SIGKILL');
    throw err;
  }
  return {
    mesh,
    replicas,
    async stop() {
      await mesh.stop();
      for (const r of replicas) r.child.kill('SIGKILL');
    },
  };
}

export function isAlive(r: AdapterProcess): boolean {
  return r.child.exitCode === null && r.child.signalCode === null;
}

// ---- /metrics of the replicas ----

async function metricsText(url: string): Promise<string> {
  return (await fetch(url.replace(/\/mcp$/, '/metrics'))).text();
}

/** The values of a metric's samples (the exact name) whose labels include `labels`. */
function samples(text: string, name: string, labels: string): number[] {
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

/** Sum of a metric's samples on the replica at `url`. */
export async function replicaMetric(url: string, name: string, labels = ''): Promise<number> {
  return samples(await metricsText(url), name, labels).reduce((a, b) => a + b, 0);
}

/** The first sample of a metric on the replica at `url` (0 if none), for a series the labels name. */
export async function firstSample(url: string, name: string, labels = ''): Promise<number> {
  return samples(await metricsText(url), name, labels)[0] ?? 0;
}

/** `replicaMetric` of each replica, in their order. */
export function perReplica(replicas: readonly AdapterProcess[], name: string, labels = ''): Promise<number[]> {
  return Promise.all(replicas.map((r) => replicaMetric(r.url, name, labels)));
}

/** Sum over the live replicas of a metric's samples. */
export async function fleetMetric(replicas: readonly AdapterProcess[], name: string, labels = ''): Promise<number> {
  return (await perReplica(replicas.filter(isAlive), name, labels)).reduce((a, b) => a + b, 0);
}

// ---- Envoy's view ----

/** Every replica of the fleet in Envoy, healthy and none ejected. */
export async function assertFleetHealthy(mesh: Mesh, count = 3): Promise<void> {
  const hosts = await clusterHostStatus(mesh.adminUrl, clusterName(FLEET_SERVER));
  assert.equal(hosts.length, count);
  assert.deepEqual(
    hosts.filter((h) => !h.healthy || h.ejected),
    [],
    'every replica healthy and none ejected',
  );
}

// ---- A fleet replaced per test, each replica labelled (the fixture's --label) ----

export interface LabelledReplica {
  readonly process: AdapterProcess;
  readonly label: string;
  readonly url: string;
}

export interface LabelledFleets {
  /**
   * Kills the replicas started before, starts three fresh ones labelled
   * `g<generation>r<index>` with `args`, names them in the mesh's config, and
   * resolves once Envoy holds all three healthy and routes stateless calls to
   * each of them.
   */
  fresh(args: readonly string[]): Promise<LabelledReplica[]>;
  /** A process started beside the fleet, killed with it. */
  track(p: AdapterProcess): void;
  /** Kills every replica started so far. */
  killAll(): void;
}

export const LABEL_PATTERN = /on (g\d+r\d)/;

export function labelledFleets(mesh: Mesh): LabelledFleets {
  const started: AdapterProcess[] = [];
  let generation = 0;
  const killAll = () => {
    for (const r of started.splice(0)) r.child.kill('SIGKILL');
  };

  /** The label of the replica a stateless call through Envoy reached, if it succeeded. */
  const statelessLabel = async (): Promise<string | undefined> => {
    const res = await postToolCall(mesh.agentUrl(FLEET_SERVER), 'slow', { ms: 0 });
    const body = await res.text();
    return res.status === 200 ? LABEL_PATTERN.exec(body)?.[1] : undefined;
  };

  return {
    async fresh(args) {
      killAll();
      generation++;
      const labels = [0, 1, 2].map((i) => `g${generation}r${i}`);
      const procs = await startReplicas({
        pool: 1,
        args,
        fixtureArgs: (i) => ['--label', labels[i]!],
        env: { MCPMESH_LOG_LEVEL: 'info' },
      });
      started.push(...procs);
      mesh.writeConfig(fleetConfig(procs));
      await until(
        async () => {
          const hosts = await clusterHostStatus(mesh.adminUrl, clusterName(FLEET_SERVER));
          return (
            hosts.length === 3 &&
            hosts.every((h) => h.healthy) &&
            procs.every((p) => hosts.some((h) => p.url.includes(`:${h.address.split(':').pop()}/`)))
          );
        },
        'the three replicas healthy in Envoy',
        20_000,
      );
      // And Envoy's workers route to each of them (stateless calls, no session).
      const seen = new Set<string>();
      await until(
        async () => {
          const label = await statelessLabel();
          if (label !== undefined && labels.includes(label)) seen.add(label);
          return seen.size === 3;
        },
        'Envoy routing to all three replicas',
        20_000,
      );
      return procs.map((p, i) => ({ process: p, label: labels[i]!, url: p.url }));
    },
    track(p) {
      started.push(p);
    },
    killAll,
  };
}

/** Sum over the live labelled replicas of a metric's first sample each. */
export async function firstSampleSum(replicas: readonly LabelledReplica[], name: string, labels: string): Promise<number> {
  let n = 0;
  for (const r of replicas) if (isAlive(r.process)) n += await firstSample(r.url, name, labels);
  return n;
}
