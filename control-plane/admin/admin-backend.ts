// What the admin REST API reads and changes. The admin service implements it;
// the API layer only authenticates, checks request shapes and writes JSON.
import type { CatalogServer, ReplicaHealth, ReplicaLocality } from '../catalog/model.js';
import type { PolicyInput } from '../catalog/policy-schema.js';
import type { XdsClientView, XdsTypeName } from '../control-plane.js';
import type { SourceStatus } from '../sources/source.js';

export interface ReplicaView {
  readonly id: string;
  readonly address: string; // host:port
  readonly health: ReplicaHealth;
  readonly weight: number;
  /** Drained through the admin API (no new traffic). */
  readonly drained: boolean;
  readonly locality?: ReplicaLocality;
}

export interface ServerView {
  readonly name: string;
  readonly path: string;
  readonly agentUrlPath: string; // /mcp/<name>
  readonly protocol: CatalogServer['protocol'];
  readonly replicas: readonly ReplicaView[];
  /** The explicit policy as the operator wrote it (durations as strings), or null. */
  readonly explicitPolicy: PolicyInput | null;
  /** The resolved policy in force, including defaults and per-tool routes. */
  readonly effectivePolicy: Pick<CatalogServer, 'policy' | 'toolRoutes'>;
}

export interface SnapshotView {
  readonly version: Record<XdsTypeName, string>;
  /** Envoy resources as JSON, per type. */
  readonly resources: Record<XdsTypeName, readonly unknown[]>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Record<string, { readonly ok: boolean; readonly detail?: string }>;
}

export class NotFoundError extends Error {}
export class ValidationError extends Error {
  constructor(
    message: string,
    readonly details: readonly string[],
  ) {
    super(message);
  }
}

/** One Prometheus HTTP service-discovery group. */
export interface ScrapeTargetGroup {
  readonly targets: readonly string[];
  readonly labels: Record<string, string>;
}

export interface AdminBackend {
  /** Adapter replicas as Prometheus HTTP SD target groups (their /metrics). */
  scrapeTargets(): readonly ScrapeTargetGroup[];
  servers(): readonly ServerView[];
  server(name: string): ServerView | undefined;
  clients(): readonly XdsClientView[];
  snapshot(): SnapshotView;
  source(): SourceStatus;
  readiness(): Readiness;
  /** Validates (ValidationError), stores in the source in force, resolves once stored. NotFoundError for unknown server. */
  setPolicy(server: string, policy: unknown): Promise<void>;
  deletePolicy(server: string): Promise<void>;
  /** No new traffic to the replica; calls in flight finish. NotFoundError for unknown server/replica. */
  drainReplica(server: string, replicaId: string): Promise<void>;
  undrainReplica(server: string, replicaId: string): Promise<void>;
}
