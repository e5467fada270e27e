// The fault scenarios: each breaks one part of a running mesh under a steady
// load of idempotent tool calls, then mends it. A scenario says when its
// fault began and ended; the runner counts calls and failures and measures
// the time from the end of the fault until traffic is balanced again.

import { clusterName } from '../../control-plane/envoy/clusters.js';
import { packAny } from '../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../control-plane/xds/api/type-urls.js';
import { resourceSet, type Snapshot } from '../../control-plane/xds/snapshot.js';
import { statValue } from '../support/mesh.js';
import { until } from '../support/wait.js';
import { type FaultMesh, REPLICAS, SERVER, startFaultMesh } from './fault-mesh.js';
import { lostSessions, type RunningSessionLoad, sessionRecoveryTime, startSessionLoad } from './session-load.js';
import { type CallRecord, type RunningLoad, recoveryTime, shares, startLoad } from './tool-load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FaultWindow {
  readonly faultStart: number;
  readonly faultEnd: number;
  readonly notes?: readonly string[];
}

export interface Scenario {
  readonly id: number;
  readonly name: string;
  /** The tool the load calls; `slow` unless the scenario is about another. */
  readonly tool?: { readonly name: string; readonly args: Record<string, unknown> };
  /** Failures are the point (a tool that must not be retried). */
  readonly expectFailures?: boolean;
  /** Where the control plane runs; in this process unless the scenario kills it. */
  readonly controlPlane?: 'in-process' | 'process';
  inject(fm: FaultMesh, scale: number): Promise<FaultWindow>;
}

/**
 * Which protocol generation the load speaks: 2026-07-28 stateless calls
 * (tool-load.ts), or 2025-era sessions through the official SDK 1.x client
 * (session-load.ts).
 */
export type Generation = '2025' | '2026';
export const GENERATIONS: readonly Generation[] = ['2026', '2025'];

export interface ScenarioResult {
  readonly id: number;
  readonly name: string;
  readonly generation: Generation;
  readonly callsPerSecond: number;
  readonly seconds: number;
  readonly calls: number;
  readonly failed: number;
  /** 2025: the number of sessions, and those lost (after their first failure no call of theirs succeeded); undefined for 2026. */
  readonly sessions: number | undefined;
  readonly sessionsLost: number | undefined;
  /** ms from the end of the fault until traffic is balanced again; undefined: not within the run, or not measured. */
  readonly recoveryMs: number | undefined;
  readonly expectFailures: boolean;
  readonly failures: readonly string[];
  readonly notes: readonly string[];
  /** With auth: the requests Envoy's jwt_authn and RBAC let through (every call of the load is one). */
  readonly authAllowed?: { readonly jwt: number; readonly rbac: number };
}

const pct = (x: number | undefined) => `${Math.round((x ?? 0) * 100)}%`;

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 1,
    name: 'kill -9 one of three adapter replicas',
    async inject(fm, scale) {
      const faultStart = performance.now();
      fm.replica(0).child.kill('SIGKILL');
      await fm.replica(0).exited;
      await sleep(3_000 * scale);
      await fm.startReplica(0);
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 2,
    name: 'rolling restart (SIGTERM, wait, start) of every replica',
    async inject(fm) {
      const faultStart = performance.now();
      for (let i = 0; i < REPLICAS.length; i++) {
        const code = await fm.stopReplica(i);
        if (code !== 0) throw new Error(`replica r${i} exited ${String(code)} on SIGTERM`);
        await fm.startReplica(i);
        // The next one leaves only once this one is back in Envoy's rotation.
        if (i < REPLICAS.length - 1) await fm.waitAllHealthy();
      }
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 3,
    name: 'a replica hangs (SIGSTOP: port open, no answers)',
    async inject(fm, scale) {
      const faultStart = performance.now();
      fm.replica(0).child.kill('SIGSTOP');
      await sleep(5_000 * scale);
      fm.replica(0).child.kill('SIGCONT');
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 4,
    name: 'a replica turns slow (10x latency)',
    async inject(fm, scale) {
      const faultStart = performance.now();
      fm.setLatency(0, 10);
      await sleep(6_000 * scale);
      fm.setLatency(0, 1);
      return { faultStart, faultEnd: performance.now(), notes: [] };
    },
  },
  {
    id: 5,
    name: 'a stdio server process crashes on every tenth call',
    async inject(fm, scale) {
      const faultStart = performance.now();
      // No restart of the replica: 2025-era sessions placed on it stay there through the crashes.
      fm.setCrashEvery(0, 10);
      await sleep(5_000 * scale);
      fm.setCrashEvery(0, 0);
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 6,
    name: 'the control plane killed (SIGKILL) and restarted',
    controlPlane: 'process',
    async inject(fm, scale) {
      const faultStart = performance.now();
      await fm.killControlPlane();
      await sleep(3_000 * scale);
      await fm.startControlPlane();
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 7,
    name: 'Consul killed for 30 s and restarted',
    async inject(fm) {
      const faultStart = performance.now();
      await fm.consul.kill();
      await sleep(30_000);
      await fm.consul.start();
      return { faultStart, faultEnd: performance.now() };
    },
  },
  {
    id: 8,
    name: 'a health check that flaps',
    async inject(fm, scale) {
      const check = `flap-${fm.serviceId(0)}`;
      await fm.consul.api('PUT', '/v1/agent/check/register', {
        ID: check,
        Name: 'flapping',
        ServiceID: fm.serviceId(0),
        TTL: '600s',
        Status: 'passing',
      });
      const faultStart = performance.now();
      const flips = Math.max(4, Math.round(10 * scale));
      for (let n = 0; n < flips; n++) {
        await fm.consul.api('PUT', `/v1/agent/check/${n % 2 === 0 ? 'fail' : 'pass'}/${check}`);
        await sleep(500);
      }
      await fm.consul.api('PUT', `/v1/agent/check/pass/${check}`);
      const faultEnd = performance.now();
      await fm.consul.api('PUT', `/v1/agent/check/deregister/${check}`);
      return { faultStart, faultEnd, notes: [`${flips} flips, 500 ms apart`] };
    },
  },
  {
    id: 9,
    name: 'a config Envoy rejects (NACK)',
    async inject(fm, scale) {
      const cp = fm.cp;
      if (cp === undefined) throw new Error('scenario 9 needs the control plane in this process');
      const good = cp.ads.currentSnapshot();
      if (good === undefined) throw new Error('no snapshot');
      // Every policy the API, the file or KV accepts translates to a cluster
      // Envoy accepts (the schema checks what Envoy would refuse), so the
      // mistake is placed where validation cannot see it: in the snapshot.
      const cluster = {
        name: clusterName(SERVER),
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: clusterName(SERVER) },
        connect_timeout: { seconds: 1 },
        outlier_detection: { base_ejection_time: { seconds: 10 }, max_ejection_time: { seconds: 1 } },
      };
      const bad: Snapshot = new Map([
        ...good,
        [TYPE.cluster, resourceSet([{ name: clusterName(SERVER), version: 'mistake-1', any: packAny(TYPE.cluster, cluster) }])],
      ]);
      const faultStart = performance.now();
      cp.ads.setSnapshot(bad);
      await until(() => cp.clients()[0]?.lastNack !== undefined, 'the NACK', 10_000);
      const nack = cp.clients()[0]!.lastNack!.message;
      await sleep(3_000 * scale);
      cp.ads.setSnapshot(good);
      await until(() => cp.ads.isConverged(), 'the good config ACKed', 10_000);
      return { faultStart, faultEnd: performance.now(), notes: [`NACKed: ${nack.replace(/^.*?: /, '').slice(0, 100)}`] };
    },
  },
  {
    id: 10,
    name: 'non-idempotent tool, server crashing on every tenth call: failures surfaced, not retried',
    tool: { name: 'increment', args: {} },
    expectFailures: true,
    async inject(fm, scale) {
      const faultStart = performance.now();
      const before = await statValue(fm.envoyAdminUrl, `vhost.mcp.route.${SERVER}__tool__increment.upstream_rq_retry`);
      fm.setCrashEvery(0, 10);
      await sleep(4_000 * scale);
      fm.setCrashEvery(0, 0);
      const retries = (await statValue(fm.envoyAdminUrl, `vhost.mcp.route.${SERVER}__tool__increment.upstream_rq_retry`)) - before;
      return {
        faultStart,
        faultEnd: performance.now(),
        notes: [`${retries} retries on the increment route, which retries only calls that never reached a server process`],
      };
    },
  },
];

export interface RunOptions {
  readonly callsPerSecond: number;
  /** Scales the fault durations (1 = as listed); the load runs warm-up + fault + settle. */
  readonly scale: number;
  readonly warmupMs: number;
  readonly settleMs: number;
  /** JWT on every request and per-tool rules on the fixture server (fault-auth.ts). */
  readonly auth?: boolean;
}

export const DEFAULT_RUN: RunOptions = { callsPerSecond: 250, scale: 1, warmupMs: 2_000, settleMs: 6_000 };

export async function runScenario(s: Scenario, o: RunOptions = DEFAULT_RUN, generation: Generation = '2026'): Promise<ScenarioResult> {
  const fm = await startFaultMesh({ controlPlane: s.controlPlane ?? 'in-process', auth: o.auth === true });
  try {
    const tool = s.tool ?? { name: 'slow', args: { ms: 5 } };
    const loadOptions = {
      url: fm.url,
      tool: tool.name,
      args: tool.args,
      callsPerSecond: o.callsPerSecond,
      concurrency: 16,
      maxCalls: o.callsPerSecond * 120,
      maxMs: 120_000,
      headers: fm.headers,
    };
    // The sessions are opened before the load's clock starts.
    const sessionLoad = generation === '2025' ? await startSessionLoad(loadOptions) : undefined;
    const load: RunningLoad = sessionLoad ?? startLoad(loadOptions);
    const began = performance.now();
    const cpuBefore = process.cpuUsage();
    await sleep(o.warmupMs);
    let window: FaultWindow;
    try {
      window = await s.inject(fm, o.scale);
      await sleep(o.settleMs);
    } finally {
      await load.stop();
    }
    const cpu = process.cpuUsage(cpuBefore);
    const records = load.records;
    const ended = records.reduce((m, r) => Math.max(m, r.end), began);
    const failures = records.filter((r) => !r.ok);
    const notes = [...(window.notes ?? [])];
    const stat = (name: string) => statValue(fm.envoyAdminUrl, `cluster.${clusterName(SERVER)}.${name}`);
    const [retries, overBudget, outOfAttempts, ejections] = await Promise.all(
      [
        'upstream_rq_retry',
        'upstream_rq_retry_overflow',
        'upstream_rq_retry_limit_exceeded',
        'outlier_detection.ejections_enforced_total',
      ].map(stat),
    );
    const authAllowed =
      o.auth === true
        ? {
            jwt: await statValue(fm.envoyAdminUrl, 'http.mcp_egress.jwt_authn.allowed'),
            rbac: await statValue(fm.envoyAdminUrl, 'http.mcp_egress.rbac.allowed'),
          }
        : undefined;
    if (authAllowed !== undefined) notes.push(`auth: jwt_authn let ${authAllowed.jwt} requests through, RBAC ${authAllowed.rbac}`);
    const cpuShare = (cpu.user + cpu.system) / 1000 / (ended - began);
    notes.push(`this process (load${s.controlPlane === 'process' ? '' : ' and control plane'}): ${pct(cpuShare)} of a core`);
    notes.push(`Envoy: ${retries} retries (${overBudget} over budget, ${outOfAttempts} out of attempts), ${ejections} ejections`);
    const lost = sessionLoad === undefined ? undefined : lostSessions(records);
    if (sessionLoad !== undefined) notes.push(...sessionNotes(sessionLoad, lost!, fm, window.faultStart));
    if (s.id === 4) {
      const during = shares(records, window.faultStart + 1_000, window.faultEnd);
      notes.push(`share of calls on the slow replica while slow: ${pct(during.get('r0'))} (fair: 33%)`);
    }
    return {
      id: s.id,
      name: s.name,
      generation,
      callsPerSecond: records.length / ((ended - began) / 1000),
      seconds: (ended - began) / 1000,
      calls: records.length,
      failed: failures.length,
      sessions: sessionLoad?.sessions,
      sessionsLost: lost?.length,
      recoveryMs:
        s.tool !== undefined
          ? undefined
          : sessionLoad !== undefined
            ? sessionRecoveryTime(records, sessionLoad.sessions, window.faultEnd)
            : recoveryTime(records, REPLICAS, window.faultEnd),
      expectFailures: s.expectFailures ?? false,
      failures: summarize(failures, window.faultStart),
      notes,
      ...(authAllowed === undefined ? {} : { authAllowed }),
    };
  } finally {
    await fm.stop();
  }
}

const at = (t: number, faultStart: number) => `${t >= faultStart ? '+' : ''}${((t - faultStart) / 1000).toFixed(2)} s`;

/** Where the sessions ran, which were lost and when, and what the SDK clients did and reported besides the calls. */
function sessionNotes(
  load: RunningSessionLoad,
  lost: readonly { session: number; firstFailure: CallRecord }[],
  fm: FaultMesh,
  faultStart: number,
): string[] {
  const seen = load.observed;
  // Replica i's Consul service id ends in its port.
  const replicaOf = (host: string | undefined) =>
    REPLICAS.find((_, i) => host !== undefined && fm.serviceId(i).endsWith(`-${host.replace(/^.*:/, '')}`)) ?? '?';
  const placed = new Map(load.pinnedTo.map((host, session) => [session, replicaOf(host)]));
  const perReplica = REPLICAS.map((id) => `${id} ${[...placed.values()].filter((p) => p === id).length}`).join(', ');
  const notes = [`sessions pinned at the start: ${perReplica}`];
  if (lost.length > 0) {
    const firsts = lost.map((l) => l.firstFailure.start).sort((a, b) => a - b);
    const where = [...new Set(lost.map((l) => placed.get(l.session) ?? '?'))].sort().join(', ');
    notes.push(
      `lost sessions (pinned to ${where}) first failed at fault ${at(firsts[0]!, faultStart)} to ${at(firsts[firsts.length - 1]!, faultStart)}`,
    );
  }
  const tally = (m: ReadonlyMap<string, number>) => [...m].map(([k, n]) => `${n}× ${k}`).join(', ');
  const later = seen.getTimes.filter((t) => t >= faultStart).length;
  notes.push(
    `SDK client: GET stream ${tally(seen.gets)} (${later} sent after the fault began); notifications/initialized ${tally(seen.initialized)}`,
  );
  // Each failed POST is also reported to onerror; those are the failures above.
  const errors = [...seen.errors].filter(([k]) => !k.includes('Error POSTing to endpoint')).sort((a, b) => b[1].n - a[1].n);
  if (errors.length > 0)
    notes.push(
      `SDK onerror besides the failed calls: ${errors
        .slice(0, 8)
        .map(([k, e]) => `${e.n}× ${k.slice(0, 150)} (first at fault ${at(e.first, faultStart)})`)
        .join('; ')}${errors.length > 8 ? `; ${errors.length - 8} more kinds` : ''}`,
    );
  return notes;
}

/** Distinct failure answers with their counts, most frequent first, and when the first came. */
function summarize(failures: readonly CallRecord[], faultStart: number): string[] {
  const seen = new Map<string, { n: number; first: number }>();
  for (const f of failures) {
    const key = (f.detail ?? '').replace(/"id":\d+/, '"id":N');
    const s = seen.get(key);
    if (s) s.n++;
    else seen.set(key, { n: 1, first: f.start });
  }
  return [...seen].sort((a, b) => b[1].n - a[1].n).map(([k, s]) => `${s.n}× ${k} (first sent at fault ${at(s.first, faultStart)})`);
}
