// The adapter's Prometheus metrics (prefix mcpmesh_adapter_), in a registry of
// its own so that several adapters can live in one process (tests). Label
// values that clients choose (method, tool) are bounded, so a client cannot
// blow up the series count; gauges are read at scrape time, off the hot path.
import {
  Counter,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricType,
  type MetricValueWithName,
  type OpenMetricsContentType,
  Registry,
} from 'prom-client';
import { collectStandardDefaultMetrics } from '../lib/default-metrics.js';
import { openMetricsView } from '../lib/open-metrics.js';
import type { Outcome } from './protocol/failure-classes.js';
import { MODERN_REQUEST_METHODS } from './protocol/modern-envelope.js';

export type ProcessState = 'starting' | 'ready' | 'backoff' | 'stopping';

export interface PoolView {
  inFlight(): number;
  queueDepth(): number;
  processes(): Readonly<Record<ProcessState, number>>;
  ready(): boolean;
  sessions(): number;
  /** Sessions pending their client's follow-up to initialize. */
  pendingSessions?(): number;
  bounds(): { readonly min: number; readonly max: number };
}

/** Method label values: the 2026-07-28 registry and the 2025-era methods beyond it. */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  ...MODERN_REQUEST_METHODS,
  'initialize',
  'ping',
  'resources/subscribe',
  'resources/unsubscribe',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/cancel',
  'tasks/result',
]);

const SERVER_METHODS = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list', 'ping']);

/** Distinct tool names that get their own label value; later ones are "_other". */
const MAX_TOOL_LABELS = 256;

export interface AdapterMetrics {
  readonly registry: Registry;
  /** The same metrics as OpenMetrics, with exemplars (the trace id of a call in its latency bucket). */
  readonly openMetrics: Registry<OpenMetricsContentType>;
  /** `traceId`: the call's trace, when it was traced; kept as its bucket's exemplar. */
  recordCall(method: string, tool: string | undefined, outcome: Outcome, retryable: boolean, seconds: number, traceId?: string): void;
  restart(reason: string): void;
  rejected(reason: string): void;
  invalidStdoutLine(): void;
  serverRequest(method: string, outcome: 'forwarded' | 'refused' | 'answered'): void;
  /** A session another replica (or an earlier run of this one) issued, taken over here. */
  sessionAdopted(via: 'post' | 'get' | 'delete'): void;
  /** A session id refused (404), by reason: the codec's reasons, or `ended` (a DELETEd session). */
  sessionIdRefused(reason: string): void;
  /** Something of a session that could not be carried on to this replica or process, by reason. */
  sessionLost(reason: 'server_request_lost' | 'stream_moved' | 'state_unavailable'): void;
  /** An initialize refused, by reason: client_limit, source_limit, max_sessions, unavailable, invalid. */
  initializeRefused(reason: 'client_limit' | 'source_limit' | 'max_sessions' | 'unavailable' | 'invalid'): void;
  /** Sessions expired because their client sent nothing after initialize within --session-init-timeout. */
  sessionsExpired(n: number): void;
  /** A call replayed on a quarantine process after its process died on its own with others (pool/crash-replay.ts), by how it ended. */
  crashReplayed(result: 'answered' | 'poisoned' | 'failed' | 'not_replayed' | 'abandoned'): void;
  /** A session given up after a pause of this adapter: moved on to another replica, ended there, or not verifiable. */
  sessionReleased(reason: 'moved' | 'ended' | 'unverified'): void;
  /** GET-stream messages sent again to a client that reconnected with Last-Event-ID. */
  streamEventsReplayed(n: number): void;
  /** A GET-stream message that could not be kept in the replay window, by reason (store_error, too_large). */
  streamEventNotKept(reason: 'store_error' | 'too_large'): void;
  attachPool(view: PoolView): void;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

// prom-client's typings declare MetricType as a numeric enum that does not
// exist at runtime; its registry prints the string it finds here.
const HISTOGRAM_TYPE = 'histogram' as unknown as MetricType;

const LATENCY_HELP = 'Time from request to answer, by method, tool and outcome';

type CallLabel = 'server' | 'method' | 'tool' | 'outcome';

/**
 * One call series, aggregated in plain numbers on the hot path (a prom-client
 * child re-validates and re-hashes its labels on every observation) and turned
 * into Prometheus samples only when scraped.
 */
interface CallSeries {
  readonly labels: Record<CallLabel, string>;
  readonly retryable: string;
  count: number;
  sum: number;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets: Float64Array;
  /** Per bucket, the last traced call that fell in it (allocated with the first one). */
  exemplars?: (Exemplar | undefined)[];
}

interface Exemplar {
  readonly traceId: string;
  readonly value: number;
  /** Seconds since the epoch. */
  readonly at: number;
}

/** A histogram whose samples come from pre-aggregated call series. */
class CallLatencyHistogram extends Histogram<CallLabel> {
  constructor(
    registry: Registry,
    private readonly series: () => Iterable<CallSeries>,
  ) {
    super({
      name: 'mcpmesh_adapter_call_duration_seconds',
      help: LATENCY_HELP,
      labelNames: ['server', 'method', 'tool', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<CallLabel>>> {
    // Series differing only in `retryable` share one histogram series.
    const merged = new Map<
      string,
      { labels: Record<CallLabel, string>; count: number; sum: number; buckets: Float64Array; exemplars: (Exemplar | undefined)[] }
    >();
    for (const s of this.series()) {
      const key = `${s.labels.method}\u0000${s.labels.tool}\u0000${s.labels.outcome}`;
      let m = merged.get(key);
      if (m === undefined) {
        m = { labels: s.labels, count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS.length + 1), exemplars: [] };
        merged.set(key, m);
      }
      m.count += s.count;
      m.sum += s.sum;
      for (let i = 0; i < s.buckets.length; i++) m.buckets[i]! += s.buckets[i]!;
      if (s.exemplars) {
        for (let i = 0; i < s.exemplars.length; i++) {
          const e = s.exemplars[i];
          if (e !== undefined && (m.exemplars[i] === undefined || m.exemplars[i]!.at < e.at)) m.exemplars[i] = e;
        }
      }
    }
    const values: MetricValueWithName<CallLabel>[] = [];
    const name = 'mcpmesh_adapter_call_duration_seconds';
    for (const m of merged.values()) {
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
        cumulative += m.buckets[i]!;
        const le = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf';
        const value: MetricValueWithName<CallLabel> & { exemplar?: object } = {
          labels: { ...m.labels, le } as MetricValueWithName<CallLabel>['labels'],
          value: cumulative,
          metricName: `${name}_bucket`,
        };
        const e = m.exemplars[i];
        // Printed in the OpenMetrics format only: `… # {trace_id="…"} 0.0123 1767225600.123`.
        if (e !== undefined) value.exemplar = { labelSet: { trace_id: e.traceId }, value: e.value, timestamp: e.at };
        values.push(value);
      }
      values.push({ labels: m.labels, value: m.sum, metricName: `${name}_sum` });
      values.push({ labels: m.labels, value: m.count, metricName: `${name}_count` });
    }
    return { name, help: LATENCY_HELP, type: HISTOGRAM_TYPE, values, aggregator: 'sum', collect: () => undefined };
  }

  /** The registry prefers this to get(); both give the pre-aggregated samples. */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<CallLabel>>> {
    return this.get();
  }
}

export function createAdapterMetrics(server: string): AdapterMetrics {
  const registry = new Registry();
  collectStandardDefaultMetrics(registry);
  let pool: PoolView | undefined;
  /** Each series once, for scrapes. */
  const unique: CallSeries[] = [];
  /** Raw (unbounded) and bounded keys to their series, for the hot path. */
  const series = new Map<string, CallSeries>();
  new Counter({
    name: 'mcpmesh_adapter_calls_total',
    help: 'Calls answered, by method, tool, outcome and whether the answer was marked retryable',
    labelNames: ['server', 'method', 'tool', 'outcome', 'retryable'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of unique) if (s.count > 0) this.inc({ ...s.labels, retryable: s.retryable }, s.count);
    },
  });
  new CallLatencyHistogram(registry, () => unique);
  const restarts = new Counter({
    name: 'mcpmesh_adapter_process_restarts_total',
    help: 'Server processes restarted, by reason',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'mcpmesh_adapter_rejected_requests_total',
    help: 'HTTP requests refused before reaching a process, by reason',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const badLines = new Counter({
    name: 'mcpmesh_adapter_stdout_invalid_lines_total',
    help: 'Lines on a server process stdout that were not JSON-RPC messages',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const serverRequests = new Counter({
    name: 'mcpmesh_adapter_server_requests_total',
    help: 'Requests from a server process to a client (sampling, elicitation, roots, ping), by outcome',
    labelNames: ['server', 'method', 'outcome'] as const,
    registers: [registry],
  });
  const adopted = new Counter({
    name: 'mcpmesh_adapter_sessions_adopted_total',
    help: '2025-era sessions taken over from another replica (or an earlier run of this one), by the request that brought them',
    labelNames: ['server', 'via'] as const,
    registers: [registry],
  });
  const replayedCalls = new Counter({
    name: 'mcpmesh_adapter_crash_replays_total',
    help: 'Calls in flight when their process died on its own with others, replayed here one at a time on a quarantine process, by result (answered; poisoned: the query of death; failed; not_replayed: over the bound or no quarantine process; abandoned: the client left)',
    labelNames: ['server', 'result'] as const,
    registers: [registry],
  });
  const released = new Counter({
    name: 'mcpmesh_adapter_sessions_released_total',
    help: '2025-era sessions given up after this adapter was paused, by reason (moved: another replica took it over; ended; unverified: the store did not answer)',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const refusedIds = new Counter({
    name: 'mcpmesh_adapter_session_ids_refused_total',
    help: 'Mcp-Session-Id values refused with 404, by reason (malformed, unknown_key, tampered, expired, wrong_server, ended)',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const lost = new Counter({
    name: 'mcpmesh_adapter_session_losses_total',
    help: 'What a moved 2025-era session could not carry on, by reason (server_request_lost, stream_moved, state_unavailable)',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const replayed = new Counter({
    name: 'mcpmesh_adapter_stream_events_replayed_total',
    help: 'GET-stream messages sent again to a 2025-era client that reconnected with Last-Event-ID',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const notKept = new Counter({
    name: 'mcpmesh_adapter_stream_events_not_kept_total',
    help: 'GET-stream messages that could not be kept in the replay window, by reason (store_error, too_large)',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const initRefused = new Counter({
    name: 'mcpmesh_adapter_initialize_refused_total',
    help: 'initialize requests refused, by reason (client_limit, source_limit, max_sessions: 429; unavailable: 503; invalid: 400)',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const expired = new Counter({
    name: 'mcpmesh_adapter_sessions_expired_total',
    help: '2025-era sessions closed because their client sent nothing after initialize within --session-init-timeout',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'mcpmesh_adapter_sessions_pending',
    help: '2025-era sessions whose client has not followed up on initialize yet',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, pool?.pendingSessions?.() ?? 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_calls_in_flight',
    help: 'Calls written to a process and not yet answered',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, pool?.inFlight() ?? 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_queue_depth',
    help: 'Calls waiting for a free process',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, pool?.queueDepth() ?? 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_pool_processes',
    help: 'Server processes by state',
    labelNames: ['server', 'state'] as const,
    registers: [registry],
    collect() {
      const p = pool?.processes();
      for (const state of ['starting', 'ready', 'backoff', 'stopping'] as const) this.set({ server, state }, p?.[state] ?? 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_pool_size_bounds',
    help: 'Configured minimum and maximum pool size',
    labelNames: ['server', 'bound'] as const,
    registers: [registry],
    collect() {
      const b = pool?.bounds();
      this.set({ server, bound: 'min' }, b?.min ?? 0);
      this.set({ server, bound: 'max' }, b?.max ?? 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_ready',
    help: '1 while at least one process is ready and the adapter is not draining',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, pool?.ready() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'mcpmesh_adapter_sessions',
    help: 'Open 2025-era sessions',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, pool?.sessions() ?? 0);
    },
  });

  const tools = new Set<string>();
  const toolLabel = (tool: string | undefined): string => {
    if (tool === undefined) return '';
    if (tools.has(tool)) return tool;
    if (tools.size < MAX_TOOL_LABELS) {
      tools.add(tool);
      return tool;
    }
    return '_other';
  };

  return {
    registry,
    openMetrics: openMetricsView(registry),
    recordCall(method, tool, outcome, retryable, seconds, traceId) {
      const key = `${method}\u0000${tool ?? ''}\u0000${outcome}\u0000${retryable ? 1 : 0}`;
      let s = series.get(key);
      if (s === undefined) {
        const m = KNOWN_METHODS.has(method) ? method : '_other';
        const t = toolLabel(tool);
        // Several raw keys may share bounded labels ("_other"): one series per label set.
        const boundedKey = `${m}\u0000${t}\u0000${outcome}\u0000${retryable ? 1 : 0}`;
        s = series.get(boundedKey);
        if (s === undefined) {
          s = {
            labels: { server, method: m, tool: t, outcome },
            retryable: String(retryable),
            count: 0,
            sum: 0,
            buckets: new Float64Array(LATENCY_BUCKETS.length + 1),
          };
          series.set(boundedKey, s);
          unique.push(s);
        }
        if (boundedKey === key || series.size < 10_000) series.set(key, s);
      }
      s.count++;
      s.sum += seconds;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
      s.buckets[i]!++;
      if (traceId !== undefined) {
        s.exemplars ??= [];
        s.exemplars[i] = { traceId, value: seconds, at: Date.now() / 1000 };
      }
    },
    restart: (reason) => restarts.inc({ server, reason }),
    rejected: (reason) => rejections.inc({ server, reason }),
    invalidStdoutLine: () => badLines.inc({ server }),
    serverRequest: (method, outcome) => serverRequests.inc({ server, method: SERVER_METHODS.has(method) ? method : '_other', outcome }),
    sessionAdopted: (via) => adopted.inc({ server, via }),
    sessionIdRefused: (reason) => refusedIds.inc({ server, reason }),
    sessionLost: (reason) => lost.inc({ server, reason }),
    initializeRefused: (reason) => initRefused.inc({ server, reason }),
    sessionsExpired: (n) => expired.inc({ server }, n),
    sessionReleased: (reason) => released.inc({ server, reason }),
    crashReplayed: (result) => replayedCalls.inc({ server, result }),
    streamEventsReplayed: (n) => replayed.inc({ server }, n),
    streamEventNotKept: (reason) => notKept.inc({ server, reason }),
    attachPool(view) {
      pool = view;
    },
  };
}
