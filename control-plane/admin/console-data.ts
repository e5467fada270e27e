// What the console shows (GET /api/v1/overview), gathered on demand from three
// places outside the pipeline and cached for a second, so that any number of
// open consoles cost one round of requests a second:
//  - Envoy's view of each replica (health check failures, outlier ejections),
//    from the admin /clusters of the Envoys the control plane was told about
//    (--envoy-admin-url; `mcpmesh up` passes its own Envoy's). Without one,
//    the status is the source's health and, for adapters, their own readiness.
//  - Traffic per tool: from Prometheus (--prometheus-url), else from the
//    control plane's own scrape of the adapters' /metrics (the targets of
//    /api/v1/sd/adapters), as rates between scrapes over a short window.
//  - Everything else (servers, drains, tool routes, Envoys' ACKs and NACKs)
//    from the admin backend, that is the pipeline's read-only views.
import type { FetchLike } from '../../lib/https-fetch.js';
import type { AdminBackend, ReplicaView, ServerView } from './admin-backend.js';
import type { OverviewBody, OverviewReplicaBody, ToolStatsBody } from './admin-schemas.js';

export interface ConsoleOptions {
  /** Envoy admin base URLs, e.g. http://127.0.0.1:9901. */
  readonly envoyAdminUrls?: readonly string[];
  /** Prometheus base URL, e.g. http://127.0.0.1:9090: traffic from it instead of scraping the adapters. */
  readonly prometheusUrl?: string | undefined;
  /** Rates are computed over about this long (own scrapes). */
  readonly windowSeconds?: number;
  readonly fetch?: typeof fetch;
  /** How adapters that serve mTLS are scraped (their target's `__scheme__` is https): with the mesh client certificate. */
  readonly adapterTlsFetch?: FetchLike;
  readonly now?: () => number;
}

interface EnvoyHost {
  readonly healthy: boolean;
  readonly flags: readonly string[];
}

/** Envoy's per-host health flags that mean "no traffic", besides eds_health_status. */
const FAILING = new Set([
  'failed_active_health_check',
  'failed_outlier_check',
  'failed_eds_health',
  'pending_dynamic_removal',
  'excluded_via_immediate_hc_fail',
]);

interface ClustersJson {
  cluster_statuses?: {
    name?: string;
    host_statuses?: {
      address?: { socket_address?: { address?: string; port_value?: number } };
      health_status?: Record<string, unknown>;
    }[];
  }[];
}

/** host:port of each host of each mcp_<server> cluster, with Envoy's health. */
export function parseEnvoyClusters(json: ClustersJson): Map<string, EnvoyHost> {
  const out = new Map<string, EnvoyHost>();
  for (const c of json.cluster_statuses ?? []) {
    if (!c.name?.startsWith('mcp_')) continue;
    const server = c.name.slice(4);
    for (const h of c.host_statuses ?? []) {
      const sa = h.address?.socket_address;
      if (!sa?.address || sa.port_value === undefined) continue;
      const flags: string[] = [];
      let healthy = true;
      for (const [k, v] of Object.entries(h.health_status ?? {})) {
        if (k === 'eds_health_status') {
          if (v !== 'HEALTHY') flags.push(`eds_${String(v).toLowerCase()}`);
          if (v !== 'HEALTHY' && v !== 'DEGRADED') healthy = false;
        } else if (v === true) {
          flags.push(k);
          if (FAILING.has(k)) healthy = false;
        }
      }
      out.set(`${server}|${sa.address.includes(':') ? `[${sa.address}]` : sa.address}:${sa.port_value}`, { healthy, flags });
    }
  }
  return out;
}

// ---- Prometheus text format ---------------------------------------------

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments skipped). */
export function parsePrometheusText(text: string, keep: (name: string) => boolean = () => true): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m || !keep(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The q-quantile of a histogram given as (upper bound, cumulative count) pairs, as Prometheus interpolates it. */
export function histogramQuantile(q: number, buckets: readonly (readonly [number, number])[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

// ---- own scrape of the adapters -------------------------------------------

const CALLS = 'mcpmesh_adapter_calls_total';
const BUCKETS = 'mcpmesh_adapter_call_duration_seconds_bucket';
const READY = 'mcpmesh_adapter_ready';

interface TrafficSample {
  readonly at: number;
  /** Monotonic totals since the control plane first looked: `server|tool|outcome` → calls, `server|tool|le` → bucket count. */
  readonly calls: ReadonlyMap<string, number>;
  readonly buckets: ReadonlyMap<string, number>;
}

/** Counter totals kept monotonic across adapter restarts (a drop is a reset) and summed over replicas. */
export class AdapterTraffic {
  private readonly last = new Map<string, number>();
  private readonly seenTargets = new Set<string>();
  private readonly calls = new Map<string, number>();
  private readonly buckets = new Map<string, number>();
  private readonly history: TrafficSample[] = [];

  constructor(private readonly windowMs: number) {}

  /** Folds one round of scrapes (target → its samples) taken at `at`. */
  add(at: number, scrapes: ReadonlyMap<string, readonly Sample[]>): void {
    for (const [target, samples] of scrapes) {
      // The first scrape of a target is its baseline: when its calls happened is unknown. A series
      // that appears later started from zero since the scrape before.
      const baseline = !this.seenTargets.has(target);
      this.seenTargets.add(target);
      for (const s of samples) {
        if (s.labels['method'] !== 'tools/call') continue;
        const server = s.labels['server'] ?? '';
        const tool = s.labels['tool'] ?? '';
        let key: string;
        let into: Map<string, number>;
        if (s.name === CALLS) {
          key = `${server}|${tool}|${s.labels['outcome'] ?? ''}`;
          into = this.calls;
        } else if (s.name === BUCKETS) {
          key = `${server}|${tool}|${s.labels['le'] ?? ''}`;
          into = this.buckets;
        } else continue;
        // Series differing in labels not kept here (retryable, outcome for buckets) add up.
        const seriesKey = `${target}|${s.name}|${JSON.stringify(s.labels)}`;
        const prev = this.last.get(seriesKey);
        this.last.set(seriesKey, s.value);
        const delta = prev === undefined ? (baseline ? 0 : s.value) : s.value >= prev ? s.value - prev : s.value;
        into.set(key, (into.get(key) ?? 0) + delta);
      }
    }
    this.history.push({ at, calls: new Map(this.calls), buckets: new Map(this.buckets) });
    while (this.history.length > 2 && this.history[1]!.at <= at - this.windowMs) this.history.shift();
  }

  /** Rates over the window; empty until two rounds were folded. */
  stats(): { windowSeconds: number; tools: ToolStatsBody[] } {
    const first = this.history[0];
    const last = this.history.at(-1);
    if (!first || !last || first === last) return { windowSeconds: 0, tools: [] };
    const dt = (last.at - first.at) / 1000;
    const tools = new Map<string, { server: string; tool: string; calls: number; errors: number; buckets: [number, number][] }>();
    const entry = (server: string, tool: string) => {
      const k = `${server}|${tool}`;
      const known = tools.get(k);
      if (known) return known;
      const e = { server, tool, calls: 0, errors: 0, buckets: [] as [number, number][] };
      tools.set(k, e);
      return e;
    };
    for (const [key, total] of last.calls) {
      const [server, tool, outcome] = key.split('|') as [string, string, string];
      const d = total - (first.calls.get(key) ?? 0);
      const e = entry(server, tool);
      e.calls += d;
      if (outcome !== 'ok') e.errors += d;
    }
    for (const [key, total] of last.buckets) {
      const [server, tool, le] = key.split('|') as [string, string, string];
      entry(server, tool).buckets.push([le === '+Inf' ? Infinity : Number(le), total - (first.buckets.get(key) ?? 0)]);
    }
    const out: ToolStatsBody[] = [];
    for (const e of tools.values()) {
      const p99 = histogramQuantile(0.99, e.buckets);
      out.push({
        server: e.server,
        tool: e.tool,
        callsPerSecond: e.calls / dt,
        errorsPerSecond: e.errors / dt,
        ...(p99 !== undefined ? { p99Seconds: p99 } : {}),
      });
    }
    out.sort((a, b) => (a.server === b.server ? (a.tool < b.tool ? -1 : 1) : a.server < b.server ? -1 : 1));
    return { windowSeconds: Math.round(dt * 10) / 10, tools: out };
  }
}

// ---- the overview -----------------------------------------------------------

export class ConsoleData {
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly envoyUrls: readonly string[];
  private readonly traffic: AdapterTraffic;
  private cached: { at: number; value: Promise<OverviewBody> } | undefined;

  constructor(
    private readonly backend: AdminBackend,
    private readonly opts: ConsoleOptions = {},
  ) {
    this.fetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
    this.envoyUrls = (opts.envoyAdminUrls ?? []).map((u) => u.replace(/\/+$/, ''));
    this.traffic = new AdapterTraffic((opts.windowSeconds ?? 10) * 1000);
  }

  /** At most one round of requests a second, shared by concurrent callers. */
  overview(): Promise<OverviewBody> {
    const now = this.now();
    if (this.cached && now - this.cached.at < 1000) return this.cached.value;
    const value = this.build(now);
    this.cached = { at: now, value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = undefined;
    });
    return value;
  }

  private async get(url: string, timeoutMs = 1500, via: FetchLike = this.fetch as FetchLike): Promise<string> {
    const res = await via(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return body;
  }

  private async envoyViews(): Promise<{ views: Map<string, Map<string, EnvoyHost>>; errors: string[] }> {
    const views = new Map<string, Map<string, EnvoyHost>>();
    const errors: string[] = [];
    await Promise.all(
      this.envoyUrls.map(async (url) => {
        try {
          views.set(url, parseEnvoyClusters(JSON.parse(await this.get(`${url}/clusters?format=json`)) as ClustersJson));
        } catch (err) {
          errors.push(`${url}: ${(err as Error).message}`);
        }
      }),
    );
    return { views, errors };
  }

  /** Each adapter's samples (ready and tool calls), or why it could not be read. */
  private async scrapeAdapters(): Promise<Map<string, Sample[] | Error>> {
    const out = new Map<string, Sample[] | Error>();
    const targets = this.backend
      .scrapeTargets()
      .flatMap((g) => g.targets.map((t) => ({ t, tls: g.labels['__scheme__'] === 'https' })))
      // Without the mesh client certificate an mTLS adapter cannot be read.
      .filter((x) => !x.tls || this.opts.adapterTlsFetch !== undefined);
    const keep = (n: string) => n === READY || n === CALLS || n === BUCKETS;
    await Promise.all(
      targets.map(async ({ t, tls }) => {
        try {
          const text = tls
            ? await this.get(`https://${t}/metrics`, 1000, this.opts.adapterTlsFetch)
            : await this.get(`http://${t}/metrics`, 1000);
          out.set(t, parsePrometheusText(text, keep));
        } catch (err) {
          out.set(t, err instanceof Error ? err : new Error(String(err)));
        }
      }),
    );
    return out;
  }

  private async fromPrometheus(base: string): Promise<{ tools: ToolStatsBody[]; windowSeconds: number }> {
    const q = async (query: string) => {
      const body = JSON.parse(await this.get(`${base.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`, 3000)) as {
        data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
      };
      const m = new Map<string, number>();
      for (const r of body.data?.result ?? []) m.set(`${r.metric['server'] ?? ''}|${r.metric['tool'] ?? ''}`, Number(r.value[1]));
      return m;
    };
    const sel = 'method="tools/call"';
    const [calls, errors, p99] = await Promise.all([
      q(`sum by (server, tool) (rate(${CALLS}{${sel}}[1m]))`),
      q(`sum by (server, tool) (rate(${CALLS}{${sel}, outcome!="ok"}[1m]))`),
      q(`histogram_quantile(0.99, sum by (server, tool, le) (rate(${BUCKETS}{${sel}}[1m])))`),
    ]);
    const tools = [...calls.entries()].map(([k, c]) => {
      const [server, tool] = k.split('|') as [string, string];
      const p = p99.get(k);
      return {
        server,
        tool,
        callsPerSecond: c,
        errorsPerSecond: errors.get(k) ?? 0,
        ...(p !== undefined && Number.isFinite(p) ? { p99Seconds: p } : {}),
      };
    });
    tools.sort((a, b) => (a.server === b.server ? (a.tool < b.tool ? -1 : 1) : a.server < b.server ? -1 : 1));
    return { tools, windowSeconds: 60 };
  }

  private async build(now: number): Promise<OverviewBody> {
    const [envoy, scrapes] = await Promise.all([this.envoyViews(), this.scrapeAdapters()]);
    let traffic: OverviewBody['traffic'];
    const ok = new Map<string, Sample[]>();
    for (const [t, s] of scrapes) if (!(s instanceof Error)) ok.set(t, s);
    if (this.opts.prometheusUrl) {
      try {
        traffic = { from: 'prometheus', ...(await this.fromPrometheus(this.opts.prometheusUrl)) };
      } catch (err) {
        traffic = { from: 'prometheus', windowSeconds: 0, tools: [], error: (err as Error).message };
      }
    } else if (scrapes.size > 0) {
      this.traffic.add(now, ok);
      traffic = { from: 'adapters', ...this.traffic.stats() };
    } else {
      traffic = { from: 'none', windowSeconds: 0, tools: [] };
    }
    const servers = this.backend.servers().map((s) => this.server(s, envoy.views, scrapes));
    return {
      generatedAt: new Date(now).toISOString(),
      readiness: this.backend.readiness(),
      source: this.backend.source(),
      envoy: { adminUrls: [...this.envoyUrls], errors: envoy.errors },
      servers,
      clients: [...this.backend.clients()],
      traffic,
    };
  }

  private server(
    s: ServerView,
    envoy: Map<string, Map<string, EnvoyHost>>,
    scrapes: Map<string, Sample[] | Error>,
  ): OverviewBody['servers'][number] {
    const p = s.effectivePolicy.policy;
    return {
      name: s.name,
      agentUrlPath: s.agentUrlPath,
      protocol: s.protocol,
      replicas: s.replicas.map((r) => replicaStatus(s.name, r, envoy, scrapes.get(r.address))),
      ...(p.toolTimeoutMs !== undefined ? { toolTimeoutMs: p.toolTimeoutMs } : {}),
      safeRetry: p.safeRetry,
      unsafeRetry: p.unsafeRetry,
      toolRoutes: [...s.effectivePolicy.toolRoutes],
    };
  }
}

/**
 * A replica's status, first match wins: drained by an operator; ejected by
 * some Envoy's outlier detection; failing some Envoy's health check (or not in
 * its cluster yet); not healthy by the source; an adapter that does not answer
 * its /metrics or says it is not ready, when no Envoy view is there to ask.
 */
export function replicaStatus(
  server: string,
  r: ReplicaView,
  envoy: Map<string, Map<string, EnvoyHost>>,
  scrape: Sample[] | Error | undefined,
): OverviewReplicaBody {
  const views = [...envoy].map(([url, hosts]) => {
    const h = hosts.get(`${server}|${r.address}`);
    return { envoy: url, healthy: h?.healthy ?? false, flags: h ? [...h.flags] : ['not_in_cluster'] };
  });
  const ejected = views.some((v) => v.flags.includes('failed_outlier_check'));
  const ready = scrape === undefined || scrape instanceof Error ? undefined : scrape.find((x) => x.name === READY)?.value;
  let status: OverviewReplicaBody['status'];
  if (r.drained) status = 'drained';
  else if (ejected) status = 'ejected';
  else if (views.some((v) => !v.healthy)) status = 'unhealthy';
  else if (r.health !== 'healthy') status = r.health;
  else if (views.length === 0 && (scrape instanceof Error || ready === 0)) status = 'unhealthy';
  else status = 'healthy';
  return {
    ...r,
    status,
    ejected,
    envoy: views,
    ...(ready !== undefined ? { adapterReady: ready === 1 } : {}),
    ...(scrape instanceof Error ? { scrapeError: scrape.message } : {}),
  };
}
