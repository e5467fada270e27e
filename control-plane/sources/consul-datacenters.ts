// Several Consul datacenters as one source: a ConsulSource per datacenter,
// each reading its catalog and health through the local agent (`?dc=`), and
// their states joined: one server per name with the replicas of every
// datacenter, each tagged with its datacenter. The first datacenter is the
// local one; Envoy sends traffic to the others as its healthy share drops
// (control-plane/envoy/endpoints.ts).
//
// Each datacenter is bounded as one Consul source is (three blocking queries
// and a small pool of reads); KV (policies, mesh settings) is the local
// agent's, so every datacenter's source reads the same policies. The source
// is ready when the local datacenter is: a remote one that cannot be reached
// joins when it answers, and a remote one that stops answering keeps its last
// good state, as a single source does.
import type { Logger } from '../../lib/log.js';
import type { ServerSpec, SourceState } from '../catalog/model.js';
import type { PolicyInput } from '../catalog/policy-schema.js';
import { ConsulSource, type ConsulSourceMetrics, type ConsulSourceOptions } from './consul-source.js';
import type { CatalogSource, SourceStatus } from './source.js';

export interface ConsulDatacentersOptions extends Omit<ConsulSourceOptions, 'datacenter'> {
  /** In order of preference, the local one first; at least one, each once. */
  readonly datacenters: readonly string[];
}

export class ConsulDatacentersSource implements CatalogSource {
  readonly kind = 'consul' as const;
  private readonly sources: readonly { readonly dc: string; readonly source: ConsulSource }[];
  private readonly states = new Map<string, SourceState>();
  private onState: ((s: SourceState) => void) | undefined;
  private readonly logger: Logger;
  private readonly memo: JoinMemo = new Map();

  constructor(opts: ConsulDatacentersOptions) {
    if (opts.datacenters.length === 0) throw new Error('at least one Consul datacenter');
    if (new Set(opts.datacenters).size !== opts.datacenters.length) throw new Error('each Consul datacenter once');
    this.logger = opts.logger;
    const { datacenters, metrics, ...common } = opts;
    // One stale gauge for the source: stale while any datacenter is.
    const stale = new Set<string>();
    const perDatacenter = (dc: string): ConsulSourceMetrics | undefined =>
      metrics && {
        ...metrics,
        stale: (on) => {
          if (on) stale.add(dc);
          else stale.delete(dc);
          metrics.stale(stale.size > 0);
        },
      };
    this.sources = datacenters.map((dc) => {
      const m = perDatacenter(dc);
      return {
        dc,
        source: new ConsulSource({
          ...common,
          ...(m ? { metrics: m } : {}),
          datacenter: dc,
          logger: opts.logger.child({ datacenter: dc }),
        }),
      };
    });
  }

  private get local(): ConsulSource {
    return this.sources[0]!.source;
  }

  /** The local datacenter's policy rejections (every datacenter reads the same KV). */
  get policyErrors(): ReadonlyMap<string, string> {
    return this.local.policyErrors;
  }

  /** Service rejections of every datacenter, keyed `<server>@<datacenter>`. */
  get serviceErrors(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const { dc, source } of this.sources) for (const [name, err] of source.serviceErrors) out.set(`${name}@${dc}`, err);
    return out;
  }

  connections(): number {
    return this.sources.reduce((n, s) => n + s.source.connections(), 0);
  }

  async start(onState: (state: SourceState) => void): Promise<void> {
    this.onState = onState;
    const started = this.sources.map(({ dc, source }) =>
      source.start((state) => {
        this.states.set(dc, state);
        this.deliver();
      }),
    );
    for (const [i, p] of started.entries()) {
      if (i === 0) continue;
      p.catch((err: unknown) =>
        this.logger.error({ datacenter: this.sources[i]!.dc, err: (err as Error).message }, 'Consul datacenter failed to start'),
      );
    }
    await started[0];
  }

  async stop(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.source.stop()));
  }

  status(): SourceStatus {
    const all = this.sources.map((s) => s.source.status());
    const local = all[0]!;
    const errors = all.flatMap((s, i) => (s.lastError !== undefined ? [`${this.sources[i]!.dc}: ${s.lastError}`] : []));
    const synced = all.filter((s) => s.lastSyncAt !== undefined).map((s) => s.lastSyncAt!);
    return {
      kind: 'consul',
      synced: local.synced,
      // A remote datacenter not (yet) read is stale too: its replicas are missing or old.
      stale: all.some((s) => s.stale || !s.synced),
      lastError: errors[0],
      lastSyncAt: synced.length > 0 ? Math.max(...synced) : undefined,
    };
  }

  writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    return this.local.writePolicy(server, policy);
  }

  private deliver(): void {
    // Ready with the local datacenter; the others join as they sync.
    if (!this.states.has(this.sources[0]!.dc)) return;
    this.onState?.(
      joinDatacenters(
        this.sources.map((s) => s.dc),
        this.states,
        this.memo,
      ),
    );
  }
}

/**
 * The states of several datacenters as one: a server's replicas from every
 * datacenter (ids `<id>@<datacenter>`: Consul ids are unique within one
 * datacenter only); what the server is (path, protocol, TLS, policy) as the
 * most preferred datacenter that has it says. Pure.
 */
export function joinDatacenters(
  order: readonly string[],
  states: ReadonlyMap<string, SourceState>,
  memo: JoinMemo = new Map(),
): SourceState {
  const parts = new Map<string, { dc: string; spec: ServerSpec }[]>();
  let mesh: SourceState['mesh'];
  for (const dc of order) {
    const state = states.get(dc);
    if (state === undefined) continue;
    mesh ??= state.mesh;
    for (const [name, spec] of state.servers) {
      const list = parts.get(name) ?? [];
      list.push({ dc, spec });
      parts.set(name, list);
    }
  }
  const servers = new Map<string, ServerSpec>();
  for (const [name, list] of parts) {
    // The same source entries as last time: the same joined entry, so the catalog builder skips it by identity.
    const hit = memo.get(name);
    if (hit && hit.parts.length === list.length && hit.parts.every((p, i) => p.dc === list[i]!.dc && p.spec === list[i]!.spec)) {
      servers.set(name, hit.joined);
      continue;
    }
    const joined: ServerSpec = {
      ...list[0]!.spec,
      replicas: list.flatMap(({ dc, spec }) => spec.replicas.map((r) => ({ ...r, id: `${r.id}@${dc}` }))),
    };
    memo.set(name, { parts: list, joined });
    servers.set(name, joined);
  }
  for (const name of [...memo.keys()]) if (!parts.has(name)) memo.delete(name);
  return { servers, datacenters: order, ...(mesh !== undefined ? { mesh } : {}) };
}

/** What joinDatacenters made of each server last time, from which source entries. */
export type JoinMemo = Map<
  string,
  { readonly parts: readonly { readonly dc: string; readonly spec: ServerSpec }[]; readonly joined: ServerSpec }
>;
