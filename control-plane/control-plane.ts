// The control plane's pipeline: source → catalog → snapshot → ADS server. It
// owns every piece of state on that path; the admin service reads it through
// PipelineView and changes it only through PipelineCommands. Changes are
// coalesced: a burst of source, tool or drain changes becomes one snapshot.
import { writeSdsFile } from '../lib/envoy-sds.js';
import { componentLogger, type Logger } from '../lib/log.js';
import { resolveMeshAuth } from './catalog/auth-resolution.js';
import { buildCatalog, replicaKey } from './catalog/catalog-builder.js';
import { type MeshSettings, resolveObservability } from './catalog/mesh-schema.js';
import type { Catalog, SourceState, ToolInfo } from './catalog/model.js';
import type { PolicyInput } from './catalog/policy-schema.js';
import { type UpstreamTlsDefaults, upstreamSdsSecrets } from './envoy/clusters.js';
import type { ListenerOptions } from './envoy/listener.js';
import { ListFilter } from './list-filter/list-filter-service.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { SnapshotBuilder } from './snapshot-builder.js';
import type { CatalogSource, SourceStatus } from './sources/source.js';
import { ToolDiscovery } from './tools/tool-discovery.js';
import type { XdsTlsOptions } from './xds/ads-server.js';
import { AdsServer } from './xds/ads-server.js';
import { PUSH_ORDER, typeName } from './xds/resource-types/registry.js';
import type { TypeName } from './xds/resource-types/resource-type.js';
import type { Snapshot } from './xds/snapshot.js';

/** The admin API's name of a resource type. */
export type XdsTypeName = TypeName;

/** One Envoy connected over ADS. */
export interface XdsClientView {
  readonly streamId: string;
  readonly nodeId: string;
  readonly cluster: string;
  readonly variant: 'sotw' | 'delta';
  readonly connectedSince: string; // ISO 8601
  readonly peer: string;
  /** Last version Envoy ACKed per resource type (type absent: nothing ACKed yet). */
  readonly acked: Partial<Record<XdsTypeName, string>>;
  readonly lastNack: { readonly type: XdsTypeName; readonly version: string; readonly message: string; readonly at: string } | undefined;
}

/**
 * What the pipeline lets others read. Each value is replaced, never changed in
 * place, so a reader may keep one and compare it by identity later.
 */
export interface PipelineView {
  /** What the source delivered last. */
  sourceState(): SourceState;
  /** The catalog behind the snapshot in force. */
  currentCatalog(): Catalog;
  /** replicaKey()s of the replicas drained by an operator. */
  drainedReplicas(): ReadonlySet<string>;
  /** The source's own account of itself. */
  source(): SourceStatus;
  clients(): readonly XdsClientView[];
  currentSnapshot(): Snapshot | undefined;
  /** The xDS server accepts connections. */
  serving(): boolean;
  readonly xdsPort: number;
}

/** The changes others may ask of the pipeline. */
export interface PipelineCommands {
  /** Stores a policy in the source in force (null deletes it); it takes effect with the source's next state. */
  writePolicy(server: string, policy: PolicyInput | null): Promise<void>;
  /** No new traffic to the replica; calls in flight finish. */
  drain(server: string, replicaId: string): void;
  undrain(server: string, replicaId: string): void;
}

export interface ControlPlaneOptions {
  readonly source: CatalogSource;
  readonly logger: Logger;
  readonly metrics: ControlPlaneMetrics;
  readonly xdsHost: string;
  readonly xdsPort: number;
  readonly listener: ListenerOptions;
  /** Tracing and access-log settings from flags: each one set wins over the source's (`mesh`). */
  readonly observability?: MeshSettings;
  /** Window in which changes are merged into one snapshot. */
  readonly coalesceMs?: number;
  /** Learn tools with tools/list (off in tests that need no upstream). */
  readonly discoverTools?: boolean;
  readonly toolRefreshMs?: number;
  /** How long the first snapshot waits for tools/list answers. */
  readonly initialToolWaitMs?: number;
  // ---- TLS ----
  /** CA and client certificate for TLS upstreams whose policy names none (files on Envoy's host, read here too for tools/list). */
  readonly upstreamTls?: UpstreamTlsDefaults;
  /** xDS over TLS with client certificates naming the node id. */
  readonly xdsTls?: XdsTlsOptions;
}

export class ControlPlane implements PipelineView, PipelineCommands {
  readonly ads: AdsServer;
  private state: SourceState = { servers: new Map() };
  private catalog: Catalog = { servers: [] };
  private snapshotVersions = '';
  private drained: ReadonlySet<string> = new Set();
  private readonly snapshots: SnapshotBuilder;
  /** Filters list answers by the rules of the catalog in force (ext_proc on the xDS port). */
  private readonly listFilter: ListFilter;
  /** Servers already warned about (unverified TLS, auth policies the mesh overrides or refuses), by name and warning. */
  private readonly warned = new Set<string>();
  private readonly tools: ToolDiscovery | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Until start() installs the first snapshot, changes wait for it. */
  private starting = true;
  private boundPort = 0;
  private listening = false;
  private readonly log: Logger;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.log = opts.logger;
    this.snapshots = new SnapshotBuilder(opts.upstreamTls ?? {});
    const m = opts.metrics;
    this.ads = new AdsServer({
      logger: componentLogger(opts.logger, 'xds'),
      ...(opts.xdsTls ? { tls: opts.xdsTls } : {}),
      events: {
        pushed: (type, variant) => m.pushes.inc({ type, variant }),
        acked: (type) => m.acks.inc({ type }),
        nacked: (type) => m.nacks.inc({ type }),
        converged: (_g, ms) => m.convergence.observe(ms / 1000),
        clientsChanged: (n) => m.connectedClients.set(n),
      },
    });
    this.listFilter = new ListFilter({ listenDenied: (server) => m.listenDenied.inc({ server }) });
    this.listFilter.register((service, implementation) => this.ads.addService(service, implementation));
    if (opts.discoverTools !== false) {
      this.tools = new ToolDiscovery({
        logger: componentLogger(opts.logger, 'tools'),
        onTools: () => this.schedule(),
        ...(opts.upstreamTls ? { upstreamTls: opts.upstreamTls } : {}),
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
    this.warnTls(state);
    this.tools?.update(state.servers);
    this.schedule();
  }

  /** Says once per server when its TLS is not verified, or cannot be (no CA anywhere: every connection is refused). */
  private warnTls(state: SourceState): void {
    for (const spec of state.servers.values()) {
      if (!spec.tls) continue;
      const t = spec.policy.tls;
      const warning =
        t?.insecureSkipVerify === true
          ? 'TLS upstream NOT verified (policy tls.insecureSkipVerify): any certificate is accepted'
          : (t?.caFile ?? this.opts.upstreamTls?.caFile) === undefined
            ? 'TLS upstream has no CA to verify it with (policy tls.caFile or --upstream-ca): Envoy refuses every certificate'
            : undefined;
      if (warning === undefined || this.warned.has(`${spec.name}\0${warning}`)) continue;
      this.warned.add(`${spec.name}\0${warning}`);
      this.log.warn({ server: spec.name }, warning);
    }
  }

  /** Says once per server when its auth policy was overridden or cannot be enforced. */
  private warnAuth(catalog: Catalog): void {
    for (const s of catalog.servers) {
      const warning = s.auth.mode === 'refused' ? `server refused: ${s.auth.reason}` : s.auth.mode === 'jwt' ? s.auth.warning : undefined;
      if (warning === undefined || this.warned.has(`${s.name}\0${warning}`)) continue;
      this.warned.add(`${s.name}\0${warning}`);
      this.log.warn({ server: s.name }, warning);
    }
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
    const auth = resolveMeshAuth(this.state.mesh?.auth, this.opts.listener);
    const catalog = buildCatalog(
      this.state,
      this.tools?.tools() ?? new Map<string, readonly ToolInfo[]>(),
      { drained: this.drained },
      auth,
    );
    this.warnAuth(catalog);
    // Ahead of Envoy: the routes that send lists here come with this snapshot.
    this.listFilter.update(catalog);
    let snapshot: Snapshot;
    try {
      const observability = resolveObservability(this.state.mesh, this.opts.observability);
      snapshot = this.snapshots.build(catalog, { ...this.opts.listener, observability, ...(auth ? { auth } : {}) });
    } catch (err) {
      this.opts.metrics.snapshotErrors.inc();
      this.log.error(
        { err: (err as Error).message },
        'cannot translate the catalog into Envoy resources; the last good snapshot stays in force',
      );
      return;
    }
    if (!this.writeSdsFiles(catalog)) return;
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

  /**
   * With an SDS directory, the SDS files the clusters name are written before
   * Envoy is told about them (a cluster whose SDS file is missing never warms).
   * False, and the last good snapshot stays, when one cannot be written.
   */
  private writeSdsFiles(catalog: Catalog): boolean {
    const tls = this.opts.upstreamTls ?? {};
    if (tls.sdsDir === undefined) return true;
    try {
      for (const secret of upstreamSdsSecrets(catalog.servers, tls)) writeSdsFile(tls.sdsDir, secret);
      return true;
    } catch (err) {
      this.opts.metrics.snapshotErrors.inc();
      this.log.error(
        { err: (err as Error).message, sdsDir: tls.sdsDir },
        "cannot write Envoy's SDS files; the last good snapshot stays in force",
      );
      return false;
    }
  }

  private recordCatalogMetrics(): void {
    const m = this.opts.metrics;
    m.servers.set(this.catalog.servers.length);
    const counts = { healthy: 0, degraded: 0, unhealthy: 0, draining: 0 };
    for (const s of this.catalog.servers) for (const r of s.replicas) counts[r.health]++;
    for (const [health, n] of Object.entries(counts)) m.replicas.set({ health }, n);
  }

  // ---- PipelineView ----

  currentCatalog(): Catalog {
    return this.catalog;
  }

  sourceState(): SourceState {
    return this.state;
  }

  drainedReplicas(): ReadonlySet<string> {
    return this.drained;
  }

  source(): SourceStatus {
    return this.opts.source.status();
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

  currentSnapshot(): Snapshot | undefined {
    return this.ads.currentSnapshot();
  }

  serving(): boolean {
    return this.listening;
  }

  // ---- PipelineCommands ----

  writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    return this.opts.source.writePolicy(server, policy);
  }

  drain(server: string, replicaId: string): void {
    this.drained = new Set([...this.drained, replicaKey(server, replicaId)]);
    this.rebuild();
  }

  undrain(server: string, replicaId: string): void {
    const key = replicaKey(server, replicaId);
    this.drained = new Set([...this.drained].filter((k) => k !== key));
    this.rebuild();
  }
}
