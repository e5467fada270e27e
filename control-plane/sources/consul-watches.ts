// Every request the Consul source makes. Connections stay bounded however many
// services there are: three blocking queries (the service list, the health of
// every check, the policy prefix) tell which services changed, and only those
// are read, over a pool of a few sockets. Watching each service with its own
// blocking query, as consul-template and Prometheus' consul_sd do, holds one
// connection per service and runs into Consul's 200-per-client limit
// (bench/consul).

import { type AclRequirement, missingPermissions } from '../../lib/consul/acl-check.js';
import { BlockingWatch } from '../../lib/consul/blocking-watch.js';
import { ConsulHttp } from '../../lib/consul/consul-http.js';
import type { Logger } from '../../lib/log.js';
import { CONSUL } from '../../lib/mesh-contracts.js';
import type { PolicyInput } from '../catalog/policy-schema.js';

export type WatchName = 'services' | 'health' | 'kv';

const WATCHES = 3;
const DEFAULT_FETCH_CONCURRENCY = 4;
/** A service whose read failed is read again after this long (its watch may have nothing new to say). */
const REREAD_AFTER_MS = 1_000;

export interface ConsulWatchOptions {
  readonly consulUrl: string;
  readonly logger: Logger;
  readonly consistent?: boolean;
  readonly token?: string;
  /** Called after every request (metrics). */
  readonly observe?: (endpoint: string, outcome: 'ok' | 'error', seconds: number) => void;
  /** Sockets for reading changed services (the blocking queries take three more). */
  readonly fetchConcurrency?: number;
  readonly waitSeconds?: number;
  /** Read the catalog and health of this datacenter (`?dc=`) through the agent; KV stays the agent's own. */
  readonly datacenter?: string;
}

export interface ConsulWatchEvents {
  /** A fresh answer of one blocking query; `reset`: Consul's index went backwards (it restarted empty, or was replaced). */
  answer(watch: WatchName, body: unknown, reset: boolean): void;
  failed(watch: WatchName, err: Error): void;
  /** The answer of /v1/health/service/<name>; its pool slot stays taken until the promise settles. */
  service(name: string, body: unknown): Promise<void>;
  /** A read finished, or failed and will be made again. */
  settled(): void;
  /** Whether a service is still worth reading (it may have left while its read waited). */
  wanted(name: string): boolean;
}

export class ConsulWatches {
  private readonly http: ConsulHttp;
  private readonly watches: BlockingWatch<unknown>[] = [];
  private readonly queue = new Set<string>();
  private fetching = 0;
  private stopped = false;
  private readonly concurrency: number;

  constructor(
    private readonly opts: ConsulWatchOptions,
    private readonly events: ConsulWatchEvents,
  ) {
    this.concurrency = opts.fetchConcurrency ?? DEFAULT_FETCH_CONCURRENCY;
    this.http = new ConsulHttp({
      url: opts.consulUrl,
      maxSockets: WATCHES + this.concurrency,
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.observe ? { observe: opts.observe } : {}),
    });
  }

  start(): void {
    const common = { consistent: this.opts.consistent ?? false, waitSeconds: this.opts.waitSeconds ?? 300 };
    const dc = this.dcQuery();
    this.watches.push(
      new BlockingWatch<unknown>(
        this.http,
        { ...common, path: '/v1/catalog/services', endpoint: 'catalog_services', ...(dc ? { query: dc } : {}) },
        this.relay('services'),
      ),
      new BlockingWatch<unknown>(
        this.http,
        { ...common, path: '/v1/health/state/any', endpoint: 'health_state', ...(dc ? { query: dc } : {}) },
        this.relay('health'),
      ),
      new BlockingWatch<unknown>(
        this.http,
        { ...common, path: `/v1/kv/${CONSUL.policyPrefix}`, query: { recurse: '' }, endpoint: 'kv_policy', notFoundAs: [] },
        this.relay('kv'),
      ),
    );
    for (const w of this.watches) w.start();
  }

  private dcQuery(): Record<string, string> | undefined {
    return this.opts.datacenter !== undefined ? { dc: this.opts.datacenter } : undefined;
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches) w.stop();
    this.http.close();
  }

  /** Sockets open to Consul (bounded by 3 + fetchConcurrency). */
  connections(): number {
    return this.http.openSockets();
  }
  /** The ACL permissions of `wanted` the token lacks ([] with ACLs off). */
  missingPermissions(wanted: readonly AclRequirement[]): Promise<AclRequirement[]> {
    return missingPermissions(this.http, wanted);
  }

  /** Queues services to be read; a service queued again before its read starts is read once. */
  read(names: Iterable<string>): void {
    for (const name of names) this.queue.add(name);
    this.pump();
  }

  /** Drops a queued read. */
  forget(name: string): void {
    this.queue.delete(name);
  }

  /** No read queued or in flight. */
  idle(): boolean {
    return this.queue.size === 0 && this.fetching === 0;
  }

  async writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    const key = `/v1/kv/${CONSUL.policyPrefix}${encodeURIComponent(server)}`;
    if (policy === null) await this.http.request('DELETE', key, { endpoint: 'kv_write', timeoutMs: 10_000 });
    else await this.http.request('PUT', key, { endpoint: 'kv_write', body: policy, timeoutMs: 10_000 });
  }

  private relay(watch: WatchName) {
    return {
      data: (body: unknown, _index: number, reset: boolean) => this.events.answer(watch, body, reset),
      error: (err: Error) => this.events.failed(watch, err),
    };
  }

  private pump(): void {
    while (this.fetching < this.concurrency && this.queue.size > 0) {
      const name = this.queue.values().next().value as string;
      this.queue.delete(name);
      this.fetching++;
      void this.fetchService(name).finally(() => {
        this.fetching--;
        this.pump();
        this.events.settled();
      });
    }
  }

  private async fetchService(name: string): Promise<void> {
    let body: unknown;
    try {
      const res = await this.http.request<unknown>('GET', `/v1/health/service/${encodeURIComponent(name)}`, {
        endpoint: 'health_service',
        query: { ...(this.opts.consistent ? { consistent: '' } : { stale: '' }), ...this.dcQuery() },
        timeoutMs: 10_000,
      });
      body = res.body;
    } catch (err) {
      this.opts.logger.warn({ server: name, err: (err as Error).message }, 'cannot read service from Consul; will retry');
      setTimeout(() => {
        if (!this.stopped && this.events.wanted(name)) this.read([name]);
      }, REREAD_AFTER_MS).unref();
      return;
    }
    if (this.events.wanted(name)) await this.events.service(name, body);
  }
}
