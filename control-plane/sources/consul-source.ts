// The Consul source: every service tagged `mcp`, its instances and their
// health, plus policies under mcpmesh/policy/ in KV, turned into SourceState.
//
// Connections stay bounded however many services there are: three blocking
// queries (the service list, the health of every check, the policy prefix)
// tell which services changed, and only those are fetched, over a pool of a
// few sockets. Watching each service with its own blocking query, as
// consul-template and Prometheus' consul_sd do, holds one connection per
// service and runs into Consul's 200-per-client limit (bench/consul).
import { CONSUL, SERVER_NAME, SERVER_NAME_RULE } from '../../lib/mesh-contracts.js';
import type { Logger } from '../../lib/log.js';
import { BlockingWatch } from '../../lib/consul/blocking-watch.js';
import { ConsulHttp } from '../../lib/consul/consul-http.js';
import { resolveHost } from '../../lib/resolve-host.js';
import type { Replica, ReplicaHealth, ServerSpec, SourceState } from '../catalog/model.js';
import { parsePolicy, type Policy, type PolicyInput } from '../catalog/policy-schema.js';
import {
  CatalogServicesSchema,
  HealthServiceSchema,
  HealthStateSchema,
  KvListSchema,
  McpMetaSchema,
  ServiceEntrySchema,
  type HealthCheck,
  type ServiceEntry,
} from './consul-schema.js';
import type { CatalogSource, SourceStatus } from './source.js';

export const POLICY_PREFIX = CONSUL.policyPrefix;
export const MCP_TAG = CONSUL.tag;

export interface ConsulSourceMetrics {
  request(endpoint: string, outcome: 'ok' | 'error', seconds: number): void;
  rejected(kind: 'service' | 'policy', server: string): void;
  stale(on: boolean): void;
}

export interface ConsulSourceOptions {
  readonly consulUrl: string;
  readonly logger: Logger;
  readonly consistent?: boolean;
  readonly token?: string;
  readonly metrics?: ConsulSourceMetrics;
  /** Sockets for fetching changed services (blocking queries take three more). */
  readonly fetchConcurrency?: number;
  /** After Consul restarts empty, services missing from it are kept this long (their registrations come back). */
  readonly restartGraceMs?: number;
  readonly waitSeconds?: number;
}

interface Known {
  readonly spec: ServerSpec;
  /** Node of each replica: node-level checks affect them. */
  readonly nodes: ReadonlySet<string>;
  readonly serviceChecks: number;
  /** Date.now() when its instances were fetched. */
  readonly fetchedAt?: number;
}

export class ConsulSource implements CatalogSource {
  readonly kind = 'consul' as const;
  private readonly http: ConsulHttp;
  private readonly watches: BlockingWatch<unknown>[] = [];
  private onState: ((s: SourceState) => void) | undefined;

  private mcpServices = new Set<string>();
  private readonly servers = new Map<string, Known>();
  private readonly policies = new Map<string, Policy>();
  readonly policyErrors = new Map<string, string>();
  readonly serviceErrors = new Map<string, string>();
  private checkPrints = new Map<string, string>();
  private nodePrints = new Map<string, string>();

  private readonly queue = new Set<string>();
  private fetching = 0;
  private seen = { services: false, health: false, kv: false };
  private synced = false;
  private failing = new Map<string, string>();
  private lastSyncAt: number | undefined;
  private deliverScheduled = false;
  private graceUntil = 0;
  private graceSince = 0;
  private graceHeld = new Map<string, ServerSpec>();
  /** "server/replica" ids seen again with a check that is not critical: their own state counts from then on. */
  private graceReleased = new Set<string>();
  private lastDelivered = new Map<string, ServerSpec>();
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly firstSync: { resolve: () => void; promise: Promise<void> };

  constructor(private readonly opts: ConsulSourceOptions) {
    this.http = new ConsulHttp({
      url: opts.consulUrl,
      maxSockets: 3 + (opts.fetchConcurrency ?? 4),
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.metrics ? { observe: (e, o, s) => opts.metrics!.request(e, o, s) } : {}),
    });
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstSync = { resolve, promise };
  }

  /** Sockets open to Consul (bounded by 3 + fetchConcurrency). */
  connections(): number {
    return this.http.openSockets();
  }

  async start(onState: (state: SourceState) => void): Promise<void> {
    this.onState = onState;
    const common = { consistent: this.opts.consistent ?? false, waitSeconds: this.opts.waitSeconds ?? 300 };
    this.watches.push(
      new BlockingWatch<unknown>(this.http, { ...common, path: '/v1/catalog/services', endpoint: 'catalog_services' }, this.events('services', (b) => this.onServices(b))),
      new BlockingWatch<unknown>(this.http, { ...common, path: '/v1/health/state/any', endpoint: 'health_state' }, this.events('health', (b) => this.onHealth(b))),
      new BlockingWatch<unknown>(this.http, { ...common, path: `/v1/kv/${POLICY_PREFIX}`, query: { recurse: '' }, endpoint: 'kv_policy', notFoundAs: [] }, this.events('kv', (b) => this.onPolicies(b))),
    );
    for (const w of this.watches) w.start();
    await this.firstSync.promise;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.stop();
    clearTimeout(this.graceTimer);
    this.http.close();
  }

  status(): SourceStatus {
    const errors = [...this.failing.values()];
    return {
      kind: 'consul',
      synced: this.synced,
      stale: this.failing.size > 0,
      lastError: errors[0],
      lastSyncAt: this.lastSyncAt,
    };
  }

  async writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    const key = `/v1/kv/${POLICY_PREFIX}${encodeURIComponent(server)}`;
    if (policy === null) await this.http.request('DELETE', key, { endpoint: 'kv_write', timeoutMs: 10_000 });
    else await this.http.request('PUT', key, { endpoint: 'kv_write', body: policy, timeoutMs: 10_000 });
  }

  private events(name: 'services' | 'health' | 'kv', handle: (body: unknown) => void) {
    return {
      data: (body: unknown, _index: number, reset: boolean) => {
        // Whichever watch sees the new Consul first starts the grace period.
        if (reset) this.beginGrace();
        if (this.failing.delete(name) && this.failing.size === 0) {
          this.opts.logger.info('Consul reachable again');
          this.opts.metrics?.stale(false);
        }
        try {
          handle(body);
        } catch (err) {
          this.opts.logger.error({ watch: name, err: (err as Error).message }, 'malformed answer from Consul; ignored');
          return;
        }
        this.seen[name] = true;
        this.scheduleDeliver();
      },
      error: (err: Error) => {
        if (!this.failing.has(name)) this.opts.logger.warn({ watch: name, err: err.message }, 'Consul query failed; the last good catalog stays in force');
        if (this.failing.size === 0) this.opts.metrics?.stale(true);
        this.failing.set(name, err.message);
      },
    };
  }

  private onServices(body: unknown): void {
    const services = CatalogServicesSchema.parse(body);
    const next = new Set(Object.entries(services).filter(([, tags]) => tags.includes(MCP_TAG)).map(([name]) => name));
    for (const name of next) if (!this.mcpServices.has(name)) this.queue.add(name);
    for (const name of this.mcpServices) if (!next.has(name)) this.forget(name);
    // Instances without checks of their own change nothing in the health view: look again.
    for (const [name, known] of this.servers) if (next.has(name) && known.serviceChecks === 0) this.queue.add(name);
    this.mcpServices = next;
    this.pump();
  }

  private onHealth(body: unknown): void {
    const checks = HealthStateSchema.parse(body);
    const perService = new Map<string, string[]>();
    const perNode = new Map<string, string[]>();
    for (const c of checks) {
      const line = `${c.CheckID}|${c.ServiceID}|${c.Status}|${c.ModifyIndex}`;
      const map = c.ServiceName ? perService : perNode;
      const key = c.ServiceName || c.Node;
      const list = map.get(key) ?? [];
      list.push(line);
      map.set(key, list);
    }
    const prints = (m: Map<string, string[]>) => new Map([...m].map(([k, v]) => [k, v.sort().join(',')]));
    const services = prints(perService);
    const nodes = prints(perNode);
    for (const name of this.mcpServices) if (services.get(name) !== this.checkPrints.get(name)) this.queue.add(name);
    for (const [node, print] of nodes) {
      if (this.nodePrints.get(node) === print) continue;
      for (const [name, known] of this.servers) if (known.nodes.has(node)) this.queue.add(name);
    }
    for (const node of this.nodePrints.keys()) if (!nodes.has(node)) for (const [name, known] of this.servers) if (known.nodes.has(node)) this.queue.add(name);
    this.checkPrints = services;
    this.nodePrints = nodes;
    this.pump();
  }

  private onPolicies(body: unknown): void {
    const entries = KvListSchema.parse(body);
    const present = new Set<string>();
    for (const e of entries) {
      const server = decodeURIComponent(e.Key.slice(POLICY_PREFIX.length));
      if (!server || server.includes('/')) continue;
      present.add(server);
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(e.Value ?? '', 'base64').toString('utf8'));
      } catch {
        this.rejectPolicy(server, `${e.Key}: not JSON`);
        continue;
      }
      const parsed = parsePolicy(json, 'policy');
      if (!parsed.ok) {
        this.rejectPolicy(server, `${e.Key}: ${parsed.errors.join('; ')}`);
        continue;
      }
      this.policyErrors.delete(server);
      // The warning → degraded mapping is applied when instances are read: read them again.
      if (JSON.stringify(this.policies.get(server)) !== JSON.stringify(parsed.policy) && this.mcpServices.has(server)) this.queue.add(server);
      this.policies.set(server, parsed.policy);
    }
    for (const server of [...this.policies.keys()]) {
      if (present.has(server)) continue;
      this.policies.delete(server);
      if (this.mcpServices.has(server)) this.queue.add(server);
    }
    this.pump();
    for (const server of [...this.policyErrors.keys()]) if (!present.has(server)) this.policyErrors.delete(server);
  }

  private rejectPolicy(server: string, message: string): void {
    if (this.policyErrors.get(server) !== message) {
      this.opts.logger.error({ server, error: message }, 'policy rejected; the last good policy of this server stays in force');
      this.opts.metrics?.rejected('policy', server);
    }
    this.policyErrors.set(server, message);
  }

  private forget(name: string): void {
    this.servers.delete(name);
    this.serviceErrors.delete(name);
    this.queue.delete(name);
  }

  private pump(): void {
    const max = this.opts.fetchConcurrency ?? 4;
    while (this.fetching < max && this.queue.size > 0) {
      const name = this.queue.values().next().value as string;
      this.queue.delete(name);
      this.fetching++;
      void this.fetchService(name).finally(() => {
        this.fetching--;
        this.pump();
        this.scheduleDeliver();
      });
    }
  }

  private async fetchService(name: string): Promise<void> {
    let body: unknown;
    try {
      const res = await this.http.request<unknown>('GET', `/v1/health/service/${encodeURIComponent(name)}`, {
        endpoint: 'health_service',
        query: this.opts.consistent ? { consistent: '' } : { stale: '' },
        timeoutMs: 10_000,
      });
      body = res.body;
    } catch (err) {
      this.opts.logger.warn({ server: name, err: (err as Error).message }, 'cannot read service from Consul; will retry');
      setTimeout(() => {
        if (this.mcpServices.has(name)) {
          this.queue.add(name);
          this.pump();
        }
      }, 1_000).unref();
      return;
    }
    if (!this.mcpServices.has(name)) return;
    try {
      const known = await this.toKnown(name, HealthServiceSchema.parse(body));
      // No instance (left): the server is gone, not an empty one.
      if (known.spec.replicas.length === 0) this.servers.delete(name);
      else this.servers.set(name, { ...known, fetchedAt: Date.now() });
      this.serviceErrors.delete(name);
    } catch (err) {
      const message = (err as Error).message;
      if (this.serviceErrors.get(name) !== message) {
        this.opts.logger.error({ server: name, error: message }, 'service rejected; its last good state stays in force');
        this.opts.metrics?.rejected('service', name);
      }
      this.serviceErrors.set(name, message);
    }
  }

  private async toKnown(name: string, raw: unknown[]): Promise<Known> {
    if (!SERVER_NAME.test(name)) throw new Error(`service name "${name}" is not a valid MCP server name (${SERVER_NAME_RULE})`);
    const entries: ServiceEntry[] = raw.map((e, i) => {
      const r = ServiceEntrySchema.safeParse(e);
      if (!r.success) throw new Error(`instance ${i}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      return r.data;
    });
    const withTag = entries.filter((e) => (e.Service.Tags ?? []).includes(MCP_TAG));
    let meta: ReturnType<typeof McpMetaSchema.parse> | undefined;
    const replicas: Replica[] = [];
    const nodes = new Set<string>();
    let serviceChecks = 0;
    for (const e of withTag) {
      const m = McpMetaSchema.safeParse(e.Service.Meta ?? {});
      if (!m.success) throw new Error(`instance ${e.Service.ID}: ${m.error.issues.map((x) => x.message).join('; ')}`);
      if (meta && (meta.mcp_path !== m.data.mcp_path || meta.mcp_tls !== m.data.mcp_tls)) {
        throw new Error(`instance ${e.Service.ID}: mcp_path/mcp_tls differ between instances of one service`);
      }
      meta ??= m.data;
      nodes.add(e.Node.Node);
      const checks = e.Checks ?? [];
      serviceChecks += checks.filter((c) => c.ServiceID === e.Service.ID).length;
      let host: string;
      try {
        host = await resolveHost(e.Service.Address || e.Node.Address);
      } catch (err) {
        throw new Error(`instance ${e.Service.ID}: cannot resolve ${e.Service.Address || e.Node.Address}: ${(err as Error).message}`);
      }
      if (e.Service.Port < 1 || e.Service.Port > 65535) throw new Error(`instance ${e.Service.ID}: port ${e.Service.Port} is not a TCP port`);
      replicas.push({
        id: e.Service.ID,
        host,
        port: e.Service.Port,
        health: this.health(checks, name),
        weight: Math.min(128, Math.max(1, e.Service.Weights?.Passing ?? 1)),
      });
    }
    return {
      spec: {
        name,
        path: meta?.mcp_path ?? '/mcp',
        protocol: meta?.mcp_protocol ?? 'auto',
        tls: meta?.mcp_tls === 'true',
        replicas,
        policy: {},
        adapter: meta?.mcpmesh_adapter === 'true',
      },
      nodes,
      serviceChecks,
    };
  }

  /** passing → healthy; warning → healthy or degraded by policy; critical or maintenance → no traffic. */
  private health(checks: readonly { CheckID: string; Status: string }[], server: string): ReplicaHealth {
    if (checks.some((c) => c.Status === 'critical' || c.Status === 'maintenance' || c.CheckID === '_node_maintenance' || c.CheckID.startsWith('_service_maintenance:'))) {
      return 'unhealthy';
    }
    if (checks.some((c) => c.Status === 'warning')) return this.policies.get(server)?.warning === 'degraded' ? 'degraded' : 'healthy';
    return 'healthy';
  }

  /**
   * After a Consul restart (index went backwards) the catalog comes back
   * empty and fills as instances register again, each with a check that is
   * critical until it first runs: replicas keep their last good state until
   * they reappear with a check that is not critical, or the grace ends.
   */
  private beginGrace(): void {
    // One restart is seen by all three watches: the first one starts the grace.
    if (Date.now() < this.graceUntil) return;
    if (this.lastDelivered.size === 0) return;
    this.graceSince = Date.now();
    this.graceUntil = this.graceSince + (this.opts.restartGraceMs ?? 60_000);
    this.graceHeld = new Map([...this.lastDelivered].filter(([, spec]) => spec.replicas.length > 0));
    this.graceReleased = new Set();
    this.opts.logger.warn({ graceMs: this.opts.restartGraceMs ?? 60_000 }, 'Consul restarted (index went backwards): keeping services that have not re-registered yet');
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => this.scheduleDeliver(), (this.opts.restartGraceMs ?? 60_000) + 10);
    this.graceTimer.unref();
  }

  private scheduleDeliver(): void {
    if (this.deliverScheduled) return;
    this.deliverScheduled = true;
    setImmediate(() => {
      this.deliverScheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    // Only complete views: all three watches answered and no fetch outstanding.
    if (!this.seen.services || !this.seen.health || !this.seen.kv || this.queue.size > 0 || this.fetching > 0) return;
    const servers = new Map<string, ServerSpec>();
    for (const [name, known] of this.servers) {
      if (!this.mcpServices.has(name)) continue;
      const spec: ServerSpec = { ...known.spec, policy: this.policies.get(name) ?? {} };
      // Health of warning checks depends on the policy: recomputed cheaply at fetch; keep as fetched.
      servers.set(name, spec);
    }
    if (Date.now() < this.graceUntil) {
      for (const [name, held] of this.graceHeld) {
        // Only instances fetched from the restarted Consul are evidence.
        const fetchedAt = this.servers.get(name)?.fetchedAt ?? 0;
        const spec = withHeldReplicas(fetchedAt >= this.graceSince ? servers.get(name) : undefined, held, this.graceReleased);
        if (spec !== undefined) servers.set(name, spec);
        else servers.delete(name);
      }
    } else {
      this.graceHeld.clear();
      this.graceReleased.clear();
    }
    this.synced = true;
    this.lastSyncAt = Date.now();
    this.lastDelivered = servers;
    this.onState?.({ servers });
    this.firstSync.resolve();
  }
}

/**
 * A service during the restart grace: a replica keeps its last good state
 * until it is seen again with a check that is not critical; from then on (it
 * is in `released`) its own state counts, absence included. New replicas are
 * taken as they are.
 */
export function withHeldReplicas(now: ServerSpec | undefined, held: ServerSpec, released: Set<string>): ServerSpec | undefined {
  const current = new Map((now?.replicas ?? []).map((r) => [r.id, r]));
  const replicas: Replica[] = [];
  for (const h of held.replicas) {
    const key = `${held.name}/${h.id}`;
    const r = current.get(h.id);
    if (r !== undefined && r.health !== 'unhealthy') released.add(key);
    if (released.has(key)) {
      if (r !== undefined) replicas.push(r);
    } else replicas.push(h);
  }
  const heldIds = new Set(held.replicas.map((r) => r.id));
  for (const r of now?.replicas ?? []) if (!heldIds.has(r.id)) replicas.push(r);
  if (now === undefined && replicas.length === 0) return undefined;
  return { ...(now ?? held), replicas };
}
