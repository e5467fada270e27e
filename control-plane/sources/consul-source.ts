// The Consul source: every service tagged `mcp`, its instances and their
// health, plus policies under mcpmesh/policy/ in KV, as SourceState. The
// requests are ConsulWatches', the translation is consul-translation's, the
// restart grace RestartGrace's; this keeps what they found and delivers only
// complete views.

import { type AclRequirement, describeRequirement } from '../../lib/consul/acl-check.js';
import type { Logger } from '../../lib/log.js';
import { CONSUL } from '../../lib/mesh-contracts.js';
import { resolveHost } from '../../lib/resolve-host.js';
import type { MeshSettings } from '../catalog/mesh-schema.js';
import type { ServerSpec, SourceState } from '../catalog/model.js';
import type { Policy, PolicyInput } from '../catalog/policy-schema.js';
import { RestartGrace } from './consul-restart-grace.js';
import {
  changedByHealth,
  type HealthPrints,
  healthPrints,
  mcpServiceNames,
  meshEntry,
  NO_HEALTH,
  policyEntries,
  type TranslatedService,
  translateService,
} from './consul-translation.js';
import { ConsulWatches, type WatchName } from './consul-watches.js';

/** What the control plane reads; without it Consul filters answers (default deny) instead of refusing them. */
export const CONTROL_PLANE_READS: readonly AclRequirement[] = [
  { resource: 'service', access: 'read', segment: '' },
  { resource: 'node', access: 'read', segment: '' },
  { resource: 'key', access: 'read', segment: CONSUL.policyPrefix },
];
/** The admin API's policy writes. */
const CONTROL_PLANE_WRITES: readonly AclRequirement[] = [{ resource: 'key', access: 'write', segment: CONSUL.policyPrefix }];
/** How often a token found lacking is asked about again. */
const ACL_RECHECK_MS = 15_000;

import type { CatalogSource, SourceStatus } from './source.js';

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
  /** Read this datacenter (`?dc=`) and tag its replicas with it (consul-datacenters.ts); KV is the agent's own. */
  readonly datacenter?: string;
}

interface Known extends TranslatedService {
  /** Date.now() when its instances were read. */
  readonly fetchedAt: number;
}

export class ConsulSource implements CatalogSource {
  readonly kind = 'consul' as const;
  private readonly watches: ConsulWatches;
  private readonly grace: RestartGrace;
  private onState: ((s: SourceState) => void) | undefined;

  private mcpServices = new Set<string>();
  private readonly servers = new Map<string, Known>();
  private readonly policies = new Map<string, Policy>();
  /** KV mcpmesh/policy/_mesh, as last accepted (a rejected edit keeps the previous one). */
  private mesh: MeshSettings | undefined;
  private meshRejection: string | undefined;
  private readonly policyRejections = new Map<string, string>();
  private readonly serviceRejections = new Map<string, string>();
  private health: HealthPrints = NO_HEALTH;

  private seen = { services: false, health: false, kv: false };
  private synced = false;
  private readonly failing = new Map<WatchName | 'acl', string>();
  private aclTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastSyncAt: number | undefined;
  private deliverScheduled = false;
  private readonly firstSync: { resolve: () => void; promise: Promise<void> };

  constructor(private readonly opts: ConsulSourceOptions) {
    const metrics = opts.metrics;
    this.watches = new ConsulWatches(
      { ...opts, ...(metrics ? { observe: (e: string, o: 'ok' | 'error', s: number) => metrics.request(e, o, s) } : {}) },
      {
        answer: (watch, body, reset) => this.onAnswer(watch, body, reset),
        failed: (watch, err) => this.onFailed(watch, err),
        service: (name, body) => this.onService(name, body),
        settled: () => this.scheduleDeliver(),
        wanted: (name) => this.mcpServices.has(name),
      },
    );
    this.grace = new RestartGrace({ graceMs: opts.restartGraceMs ?? 60_000, logger: opts.logger, ended: () => this.scheduleDeliver() });
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstSync = { resolve, promise };
  }

  /** Why each server's policy in KV was rejected (its last good policy stays in force). */
  get policyErrors(): ReadonlyMap<string, string> {
    return this.policyRejections;
  }

  /** Why each service was rejected (its last good state stays in force). */
  get serviceErrors(): ReadonlyMap<string, string> {
    return this.serviceRejections;
  }

  /** Sockets open to Consul (bounded by 3 + fetchConcurrency). */
  connections(): number {
    return this.watches.connections();
  }

  async start(onState: (state: SourceState) => void): Promise<void> {
    this.onState = onState;
    this.watches.start();
    void this.checkAcl(true);
    await this.firstSync.promise;
  }

  /**
   * Asks Consul what the token may do. Reads it lacks make the source stale
   * (mcpmesh_source_stale, /readyz) with an error naming each missing rule,
   * rechecked until granted; a missing write only warns (policy writes will fail).
   */
  private async checkAcl(first: boolean): Promise<void> {
    if (this.stopped) return;
    let missing: AclRequirement[];
    try {
      missing = await this.watches.missingPermissions([...CONTROL_PLANE_READS, ...(first ? CONTROL_PLANE_WRITES : [])]);
    } catch (err) {
      // Unreachable Consul is the watches' to report; older Consuls without the endpoint: nothing to say.
      this.opts.logger.debug({ err: (err as Error).message }, 'could not ask Consul about the ACL token');
      if (this.failing.has('acl')) this.scheduleAclCheck();
      return;
    }
    if (this.stopped) return;
    const writes = missing.filter((m) => m.access === 'write');
    if (writes.length > 0) {
      this.opts.logger.warn(
        { missing: writes.map(describeRequirement) },
        'the Consul ACL token cannot write policies: admin API policy writes will fail (403)',
      );
    }
    const reads = missing.filter((m) => m.access === 'read');
    if (reads.length > 0) {
      const message = `the Consul ACL token lacks ${reads.map(describeRequirement).join(', ')}: Consul hides what the token may not read, so servers are missing from the catalog (docs/security.md)`;
      if (this.failing.get('acl') !== message) this.opts.logger.error({ missing: reads.map(describeRequirement) }, message);
      if (this.failing.size === 0) this.opts.metrics?.stale(true);
      this.failing.set('acl', message);
      this.scheduleAclCheck();
    } else if (this.failing.delete('acl')) {
      this.opts.logger.info('the Consul ACL token now has the permissions the control plane needs');
      if (this.failing.size === 0) this.opts.metrics?.stale(false);
    }
  }

  private scheduleAclCheck(): void {
    clearTimeout(this.aclTimer);
    this.aclTimer = setTimeout(() => void this.checkAcl(false), ACL_RECHECK_MS);
    this.aclTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.aclTimer);
    this.watches.stop();
    this.grace.stop();
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

  writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    return this.watches.writePolicy(server, policy);
  }

  private onAnswer(watch: WatchName, body: unknown, reset: boolean): void {
    // Whichever watch sees the new Consul first starts the grace period.
    if (reset) this.grace.begin();
    if (this.failing.delete(watch) && this.failing.size === 0) {
      this.opts.logger.info('Consul reachable again');
      this.opts.metrics?.stale(false);
    }
    try {
      if (watch === 'services') this.onServices(body);
      else if (watch === 'health') this.onHealth(body);
      else this.onPolicies(body);
    } catch (err) {
      this.opts.logger.error({ watch, err: (err as Error).message }, 'malformed answer from Consul; ignored');
      return;
    }
    this.seen[watch] = true;
    this.scheduleDeliver();
  }

  private onFailed(watch: WatchName, err: Error): void {
    if (!this.failing.has(watch))
      this.opts.logger.warn({ watch, err: err.message }, 'Consul query failed; the last good catalog stays in force');
    if (this.failing.size === 0) this.opts.metrics?.stale(true);
    this.failing.set(watch, err.message);
  }

  private onServices(body: unknown): void {
    const next = mcpServiceNames(body);
    const read = [...next].filter((name) => !this.mcpServices.has(name));
    for (const name of this.mcpServices) if (!next.has(name)) this.forget(name);
    // Instances without checks of their own change nothing in the health view: look again.
    for (const [name, known] of this.servers) if (next.has(name) && known.serviceChecks === 0) read.push(name);
    this.mcpServices = next;
    this.watches.read(read);
  }

  private onHealth(body: unknown): void {
    const next = healthPrints(body);
    const read = changedByHealth(this.health, next, this.mcpServices, this.servers);
    this.health = next;
    this.watches.read(read);
  }

  private onPolicies(body: unknown): void {
    const mesh = meshEntry(body);
    if ('error' in mesh) {
      if (this.meshRejection !== mesh.error) {
        this.opts.logger.error({ error: mesh.error }, 'mesh settings rejected; the last good ones stay in force');
        this.opts.metrics?.rejected('policy', '_mesh');
      }
      this.meshRejection = mesh.error;
    } else {
      this.meshRejection = undefined;
      this.mesh = mesh.settings;
    }
    const entries = policyEntries(body);
    const present = new Set(entries.map((e) => e.server));
    const read: string[] = [];
    for (const e of entries) {
      if ('error' in e) {
        this.rejectPolicy(e.server, e.error);
        continue;
      }
      this.policyRejections.delete(e.server);
      // The warning → degraded mapping is applied when instances are read: read them again.
      if (JSON.stringify(this.policies.get(e.server)) !== JSON.stringify(e.policy) && this.mcpServices.has(e.server)) read.push(e.server);
      this.policies.set(e.server, e.policy);
    }
    for (const server of [...this.policies.keys()]) {
      if (present.has(server)) continue;
      this.policies.delete(server);
      if (this.mcpServices.has(server)) read.push(server);
    }
    this.watches.read(read);
    for (const server of [...this.policyRejections.keys()]) if (!present.has(server)) this.policyRejections.delete(server);
  }

  private rejectPolicy(server: string, message: string): void {
    if (this.policyRejections.get(server) !== message) {
      this.opts.logger.error({ server, error: message }, 'policy rejected; the last good policy of this server stays in force');
      this.opts.metrics?.rejected('policy', server);
    }
    this.policyRejections.set(server, message);
  }

  private forget(name: string): void {
    this.servers.delete(name);
    this.serviceRejections.delete(name);
    this.watches.forget(name);
  }

  private async onService(name: string, body: unknown): Promise<void> {
    try {
      const known = await translateService(name, body, this.policies.get(name)?.warning, resolveHost, this.opts.datacenter);
      // No instance (left): the server is gone, not an empty one.
      if (known.spec.replicas.length === 0) this.servers.delete(name);
      else this.servers.set(name, { ...known, fetchedAt: Date.now() });
      this.serviceRejections.delete(name);
    } catch (err) {
      const message = (err as Error).message;
      if (this.serviceRejections.get(name) !== message) {
        this.opts.logger.error({ server: name, error: message }, 'service rejected; its last good state stays in force');
        this.opts.metrics?.rejected('service', name);
      }
      this.serviceRejections.set(name, message);
    }
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
    // Only complete views: all three watches answered and no read outstanding.
    if (!this.seen.services || !this.seen.health || !this.seen.kv || !this.watches.idle()) return;
    const servers = new Map<string, ServerSpec>();
    for (const [name, known] of this.servers) {
      if (this.mcpServices.has(name)) servers.set(name, { ...known.spec, policy: this.policies.get(name) ?? {} });
    }
    const delivered = this.grace.deliver(servers, (name) => this.servers.get(name)?.fetchedAt ?? 0);
    const mesh = this.grace.deliverMesh(this.mesh);
    this.synced = true;
    this.lastSyncAt = Date.now();
    this.onState?.(mesh === undefined ? { servers: delivered } : { servers: delivered, mesh });
    this.firstSync.resolve();
  }
}
