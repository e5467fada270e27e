// The control plane: source → catalog → snapshot → ADS server, with the admin
// API's view of it. Changes are coalesced: a burst of source, tool or drain
// changes becomes one snapshot.
import { hostPort } from '../lib/host-port.js';
import { agentPath } from '../lib/mesh-contracts.js';
import type { Logger } from '../lib/log.js';
import { buildCatalog } from './catalog/catalog-builder.js';
import type { Catalog, ServerSpec, SourceState, ToolInfo } from './catalog/model.js';
import { policyToInput } from './catalog/policy-format.js';
import { parsePolicy } from './catalog/policy-schema.js';
import {
  NotFoundError,
  ValidationError,
  type AdminBackend,
  type Readiness,
  type ScrapeTargetGroup,
  type ServerView,
  type SnapshotView,
  type XdsClientView,
  type XdsTypeName,
} from './admin/admin-backend.js';
import type { ListenerOptions } from './envoy/listener.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { SnapshotBuilder } from './snapshot-builder.js';
import type { CatalogSource } from './sources/source.js';
import { ToolDiscovery } from './tools/tool-discovery.js';
import { AdsServer } from './xds/ads-server.js';
import { unpackAny } from './xds/api/envoy-protos.js';
import { PUSH_ORDER, typeName } from './xds/resource-types/registry.js';
import type { Snapshot } from './xds/snapshot.js';

export interface ControlPlaneOptions {
  readonly source: CatalogSource;
  readonly logger: Logger;
  readonly metrics: ControlPlaneMetrics;
  readonly xdsHost: string;
  readonly xdsPort: number;
  readonly listener: ListenerOptions;
  /** Window in which changes are merged into one snapshot. */
  readonly coalesceMs?: number;
  /** Learn tools with tools/list (off in tests that need no upstream). */
  readonly discoverTools?: boolean;
  readonly toolRefreshMs?: number;
  /** How long the first snapshot waits for tools/list answers. */
  readonly initialToolWaitMs?: number;
}

export class ControlPlane implements AdminBackend {
  readonly ads: AdsServer;
  private state: SourceState = { servers: new Map() };
  private catalog: Catalog = { servers: [] };
  private snapshotVersions = '';
  private readonly drained = new Set<string>();
  private drainedRev = 0;
  private readonly snapshots = new SnapshotBuilder();
  private readonly tools: ToolDiscovery | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Until start() installs the first snapshot, changes wait for it. */
  private starting = true;
  private boundPort = 0;
  private listening = false;
  private readonly log: Logger;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.log = opts.logger;
    const m = opts.metrics;
    this.ads = new AdsServer({
      logger: opts.logger.child({ component: 'xds' }),
      events: {
        pushed: (type, variant) => m.pushes.inc({ type, variant }),
        acked: (type) => m.acks.inc({ type }),
        nacked: (type) => m.nacks.inc({ type }),
        converged: (_g, ms) => m.convergence.observe(ms / 1000),
        clientsChanged: (n) => m.connectedClients.set(n),
      },
    });
    if (opts.discoverTools !== false) {
      this.tools = new ToolDiscovery({
        logger: opts.logger.child({ component: 'tools' }),
        onTools: () => this.schedule(),
        ...(opts.toolRefreshMs !== undefined ? { refreshMs: opts.toolRefreshMs } : {}),
      });
    }
  }

  get xdsPort(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const kind = this.opts.source.kind;
    this.boundPort = await this.ads.listen(this.opts.xdsHost, this.opts.xdsPort);
    this.listening = true;
    this.log.info({ xds: `${this.opts.xdsHost}:${this.boundPort}` }, 'xDS server listening');
    this.tools?.start();
    await this.opts.source.start((state) => this.onSourceState(state));
    this.opts.metrics.sourceSynced.set({ source: kind }, 1);
    // The first snapshot waits (briefly) for the tools, so that a restarted
    // control plane installs the same routes, hence versions, Envoy already has.
    // A rebuild scheduled meanwhile would install routes without the tools and
    // push them to an Envoy that reconnected early (CI caught it doing so).
    await this.tools?.settled(this.opts.initialToolWaitMs ?? 3_000);
    this.starting = false;
    this.rebuild();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.tools?.stop();
    await this.opts.source.stop();
    await this.ads.stop();
    this.listening = false;
  }

  private onSourceState(state: SourceState): void {
    this.state = state;
    this.tools?.update(state.servers);
    this.schedule();
  }

  /** Merges changes that arrive within the window into one rebuild. */
  private schedule(): void {
    if (this.starting || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rebuild();
    }, this.opts.coalesceMs ?? 5);
  }

  private rebuild(): void {
    const started = performance.now();
    const catalog = buildCatalog(this.state, this.tools?.tools() ?? new Map<string, readonly ToolInfo[]>(), { drained: this.drained });
    let snapshot: Snapshot;
    try {
      snapshot = this.snapshots.build(catalog, this.opts.listener);
    } catch (err) {
      this.opts.metrics.snapshotErrors.inc();
      this.log.error({ err: (err as Error).message }, 'cannot translate the catalog into Envoy resources; the last good snapshot stays in force');
      return;
    }
    this.opts.metrics.snapshotBuild.observe((performance.now() - started) / 1000);
    this.catalog = catalog;
    this.recordCatalogMetrics();
    const versions = PUSH_ORDER.map((t) => snapshot.get(t)?.version ?? '').join('/');
    if (versions === this.snapshotVersions) return;
    this.snapshotVersions = versions;
    this.ads.setSnapshot(snapshot);
    this.opts.metrics.snapshotGeneration.set(this.ads.currentGeneration());
    this.log.info({ versions, servers: catalog.servers.length }, 'snapshot installed');
  }

  private recordCatalogMetrics(): void {
    const m = this.opts.metrics;
    m.servers.set(this.catalog.servers.length);
    const counts = { healthy: 0, degraded: 0, unhealthy: 0, draining: 0 };
    for (const s of this.catalog.servers) for (const r of s.replicas) counts[r.health]++;
    for (const [health, n] of Object.entries(counts)) m.replicas.set({ health }, n);
  }

  currentCatalog(): Catalog {
    return this.catalog;
  }

  // ---- AdminBackend ----

  private view(spec: ServerSpec): ServerView {
    const c = this.catalog.servers.find((s) => s.name === spec.name);
    return {
      name: spec.name,
      path: spec.path,
      agentUrlPath: agentPath(spec.name),
      protocol: spec.protocol,
      replicas: (c?.replicas ?? spec.replicas).map((r) => ({
        id: r.id,
        address: `${r.host}:${r.port}`,
        health: r.health,
        weight: r.weight,
        drained: this.drained.has(`${spec.name}/${r.id}`),
      })),
      explicitPolicy: Object.keys(spec.policy).length > 0 ? policyToInput(spec.policy) : null,
      effectivePolicy: { policy: c?.policy ?? buildCatalog({ servers: new Map([[spec.name, spec]]) }, new Map()).servers[0]!.policy, toolRoutes: c?.toolRoutes ?? [] },
    };
  }

  scrapeTargets(): readonly ScrapeTargetGroup[] {
    return [...this.state.servers.values()]
      .filter((s) => s.adapter === true)
      .flatMap((s) =>
        s.replicas.map((r) => ({
          targets: [hostPort(r.host, r.port)],
          labels: { server: s.name, replica: r.id },
        })),
      );
  }

  /**
   * The same array until the catalog, the source state or a drain changes, so
   * that the admin API can reuse its serialization: read at a thousand a second,
   * a hundred servers' views cost a core when built and serialized each time.
   */
  servers(): readonly ServerView[] {
    const memo = this.serverViews;
    if (memo?.catalog === this.catalog && memo.state === this.state && memo.drainedRev === this.drainedRev) return memo.views;
    const views = [...this.state.servers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => this.view(s));
    this.serverViews = { catalog: this.catalog, state: this.state, drainedRev: this.drainedRev, views };
    return views;
  }
  private serverViews: { catalog: Catalog; state: SourceState; drainedRev: number; views: readonly ServerView[] } | undefined;

  server(name: string): ServerView | undefined {
    const spec = this.state.servers.get(name);
    return spec ? this.view(spec) : undefined;
  }

  clients(): readonly XdsClientView[] {
    return this.ads.clients().map((s) => {
      const acked: Partial<Record<XdsTypeName, string>> = {};
      for (const [type, version] of s.acked) acked[typeName(type)] = version;
      return {
        streamId: s.id,
        nodeId: s.node?.id ?? '',
        cluster: s.node?.cluster ?? '',
        variant: s.variant,
        connectedSince: s.connectedSince.toISOString(),
        peer: s.peer,
        acked,
        lastNack: s.lastNack,
      };
    });
  }

  snapshot(): SnapshotView {
    const snap = this.ads.currentSnapshot();
    const version = {} as Record<XdsTypeName, string>;
    const resources = {} as Record<XdsTypeName, unknown[]>;
    for (const type of PUSH_ORDER) {
      const set = snap?.get(type);
      version[typeName(type)] = set?.version ?? '';
      resources[typeName(type)] = set ? [...set.resources.values()].map((r) => ({ name: r.name, version: r.version, resource: unpackAny(r.any) })) : [];
    }
    return { version, resources };
  }

  source() {
    return this.opts.source.status();
  }

  readiness(): Readiness {
    const src = this.opts.source.status();
    return {
      ready: src.synced && this.listening && this.ads.currentSnapshot() !== undefined,
      checks: {
        source: { ok: src.synced, ...(src.lastError ? { detail: src.lastError } : {}) },
        sourceFresh: { ok: !src.stale, ...(src.stale ? { detail: 'source unreachable; last good catalog in force' } : {}) },
        xds: { ok: this.listening, detail: `port ${this.boundPort}` },
        snapshot: { ok: this.ads.currentSnapshot() !== undefined },
      },
    };
  }

  async setPolicy(server: string, policy: unknown): Promise<void> {
    if (!this.state.servers.has(server)) throw new NotFoundError(`no MCP server named "${server}"`);
    const parsed = parsePolicy(policy);
    if (!parsed.ok) throw new ValidationError('invalid policy', parsed.errors);
    await this.opts.source.writePolicy(server, policy as Parameters<CatalogSource['writePolicy']>[1]);
  }

  async deletePolicy(server: string): Promise<void> {
    if (!this.state.servers.has(server)) throw new NotFoundError(`no MCP server named "${server}"`);
    await this.opts.source.writePolicy(server, null);
  }

  private replicaKey(server: string, replicaId: string): string {
    const spec = this.state.servers.get(server);
    if (!spec) throw new NotFoundError(`no MCP server named "${server}"`);
    if (!spec.replicas.some((r) => r.id === replicaId)) throw new NotFoundError(`server "${server}" has no replica "${replicaId}"`);
    return `${server}/${replicaId}`;
  }

  async drainReplica(server: string, replicaId: string): Promise<void> {
    this.drained.add(this.replicaKey(server, replicaId));
    this.drainedRev++;
    this.rebuild();
  }

  async undrainReplica(server: string, replicaId: string): Promise<void> {
    this.drained.delete(this.replicaKey(server, replicaId));
    this.drainedRev++;
    this.rebuild();
  }
}
