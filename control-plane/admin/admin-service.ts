// The admin API's backend: answers reads from the pipeline's views, and turns
// changes into the pipeline's commands once the server or replica exists and
// the policy parses. Its one piece of state is a cache of the server views.
import { hostPort } from '../../lib/host-port.js';
import { agentPath } from '../../lib/mesh-contracts.js';
import { replicaKey } from '../catalog/catalog-builder.js';
import type { Catalog, ServerSpec, SourceState } from '../catalog/model.js';
import { policyToInput } from '../catalog/policy-format.js';
import { resolvePolicy } from '../catalog/policy-resolution.js';
import { type PolicyInput, parsePolicy } from '../catalog/policy-schema.js';
import type { PipelineCommands, PipelineView, XdsClientView, XdsTypeName } from '../control-plane.js';
import type { SourceStatus } from '../sources/source.js';
import { unpackAny } from '../xds/api/envoy-protos.js';
import { PUSH_ORDER, typeName } from '../xds/resource-types/registry.js';
import {
  type AdminBackend,
  NotFoundError,
  type Readiness,
  type ScrapeTargetGroup,
  type ServerView,
  type SnapshotView,
  ValidationError,
} from './admin-backend.js';

interface ServerViews {
  readonly catalog: Catalog;
  readonly state: SourceState;
  readonly drained: ReadonlySet<string>;
  readonly views: readonly ServerView[];
}

export class AdminService implements AdminBackend {
  private serverViews: ServerViews | undefined;

  constructor(private readonly pipeline: PipelineView & PipelineCommands) {}

  private view(spec: ServerSpec): ServerView {
    const c = this.pipeline.currentCatalog().servers.find((s) => s.name === spec.name);
    const drained = this.pipeline.drainedReplicas();
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
        drained: drained.has(replicaKey(spec.name, r.id)),
        ...(r.locality !== undefined ? { locality: r.locality } : {}),
      })),
      explicitPolicy: Object.keys(spec.policy).length > 0 ? policyToInput(spec.policy) : null,
      // A server not in the catalog yet (its first build failed) still shows the policy it would get.
      effectivePolicy: { policy: c?.policy ?? resolvePolicy(spec.policy), toolRoutes: c?.toolRoutes ?? [] },
    };
  }

  scrapeTargets(): readonly ScrapeTargetGroup[] {
    return [...this.pipeline.sourceState().servers.values()]
      .filter((s) => s.adapter === true)
      .flatMap((s) =>
        s.replicas.map((r) => ({
          targets: [hostPort(r.host, r.port)],
          // An mTLS adapter serves /metrics over TLS too: Prometheus takes the
          // scheme from this label and presents its job's client certificate.
          labels: { server: s.name, replica: r.id, ...(s.tls ? { __scheme__: 'https' } : {}) },
        })),
      );
  }

  /**
   * The same array until the catalog, the source state or a drain changes, so
   * that the admin API can reuse its serialization: read at a thousand a second,
   * a hundred servers' views cost a core when built and serialized each time.
   */
  servers(): readonly ServerView[] {
    const catalog = this.pipeline.currentCatalog();
    const state = this.pipeline.sourceState();
    const drained = this.pipeline.drainedReplicas();
    const memo = this.serverViews;
    if (memo?.catalog === catalog && memo.state === state && memo.drained === drained) return memo.views;
    const views = [...state.servers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => this.view(s));
    this.serverViews = { catalog, state, drained, views };
    return views;
  }

  server(name: string): ServerView | undefined {
    const spec = this.pipeline.sourceState().servers.get(name);
    return spec ? this.view(spec) : undefined;
  }

  clients(): readonly XdsClientView[] {
    return this.pipeline.clients();
  }

  snapshot(): SnapshotView {
    const snap = this.pipeline.currentSnapshot();
    const version = {} as Record<XdsTypeName, string>;
    const resources = {} as Record<XdsTypeName, unknown[]>;
    for (const type of PUSH_ORDER) {
      const set = snap?.get(type);
      version[typeName(type)] = set?.version ?? '';
      resources[typeName(type)] = set
        ? [...set.resources.values()].map((r) => ({ name: r.name, version: r.version, resource: unpackAny(r.any) }))
        : [];
    }
    return { version, resources };
  }

  source(): SourceStatus {
    return this.pipeline.source();
  }

  readiness(): Readiness {
    const src = this.pipeline.source();
    const serving = this.pipeline.serving();
    const snapshot = this.pipeline.currentSnapshot() !== undefined;
    return {
      ready: src.synced && serving && snapshot,
      checks: {
        source: { ok: src.synced, ...(src.lastError ? { detail: src.lastError } : {}) },
        sourceFresh: { ok: !src.stale, ...(src.stale ? { detail: 'source unreachable; last good catalog in force' } : {}) },
        xds: { ok: serving, detail: `port ${this.pipeline.xdsPort}` },
        snapshot: { ok: snapshot },
      },
    };
  }

  async setPolicy(server: string, policy: unknown): Promise<void> {
    this.spec(server);
    const parsed = parsePolicy(policy);
    if (!parsed.ok) throw new ValidationError('invalid policy', parsed.errors);
    // The source stores what the operator wrote (durations as strings), which the parse has just accepted.
    await this.pipeline.writePolicy(server, policy as PolicyInput);
  }

  async deletePolicy(server: string): Promise<void> {
    this.spec(server);
    await this.pipeline.writePolicy(server, null);
  }

  async drainReplica(server: string, replicaId: string): Promise<void> {
    this.replica(server, replicaId);
    this.pipeline.drain(server, replicaId);
  }

  async undrainReplica(server: string, replicaId: string): Promise<void> {
    this.replica(server, replicaId);
    this.pipeline.undrain(server, replicaId);
  }

  private spec(server: string): ServerSpec {
    const spec = this.pipeline.sourceState().servers.get(server);
    if (!spec) throw new NotFoundError(`no MCP server named "${server}"`);
    return spec;
  }

  private replica(server: string, replicaId: string): void {
    if (!this.spec(server).replicas.some((r) => r.id === replicaId))
      throw new NotFoundError(`server "${server}" has no replica "${replicaId}"`);
  }
}
