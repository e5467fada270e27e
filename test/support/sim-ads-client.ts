// A simulated Envoy: an ADS client that subscribes like Envoy does (CDS and LDS
// wildcard, EDS for every cluster it gets, RDS for the listener's route config)
// and ACKs every response. For scale benchmarks and protocol tests; the
// integration tests use real Envoys.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { adsPackageDefinition, envoyRoot } from '../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../control-plane/xds/api/type-urls.js';

interface AnyMsg {
  type_url: string;
  value: Buffer;
}
interface Response {
  version_info: string;
  resources: AnyMsg[];
  type_url: string;
  nonce: string;
}
interface DeltaResponse {
  system_version_info: string;
  resources: { name: string; version: string; resource: AnyMsg }[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

/** A resource's version as the snapshot computes it: sha256 of the encoded resource, base64url, 16 chars. */
function contentVersion(value: Uint8Array): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 16);
}

type AdsClient = grpc.Client & {
  StreamAggregatedResources(): grpc.ClientDuplexStream<object, Response>;
  DeltaAggregatedResources(): grpc.ClientDuplexStream<object, DeltaResponse>;
};

function clientCtor(): new (address: string, creds: grpc.ChannelCredentials) => AdsClient {
  const pkg = grpc.loadPackageDefinition(adsPackageDefinition()) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: new (a: string, c: grpc.ChannelCredentials) => AdsClient } } } };
  };
  return pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
}

export interface SimClientOptions {
  readonly address: string;
  readonly nodeId: string;
  readonly delta?: boolean;
  /** Record what a SotW client holds in `held`: decodes and hashes every resource (tests; costs CPU). */
  readonly trackNames?: boolean;
  /** Answer these versions with a NACK instead of an ACK. */
  readonly reject?: (type: string, version: string) => string | undefined;
  /** Default: insecure (plain). */
  readonly credentials?: grpc.ChannelCredentials;
}

export class SimAdsClient {
  /** type → version this client last ACKed. */
  readonly acked = new Map<string, string>();
  /**
   * type → what it holds, name → resource version (the snapshot's content
   * hash). Delta: as the responses say. SotW (only with `trackNames`), like
   * Envoy: a cluster or listener response replaces the set; an endpoint or route
   * response adds to it (what it leaves out is kept), and names no longer
   * subscribed to are dropped.
   */
  readonly held = new Map<string, Map<string, string>>();
  readonly responses: { type: string; version: string; resources: number; removed: number; at: number }[] = [];
  private readonly client: AdsClient;
  private stream: grpc.ClientDuplexStream<object, Response | DeltaResponse> | undefined;
  private edsNames = new Set<string>();
  private rdsNames = new Set<string>();
  private readonly listeners = new Set<() => void>();
  closed = false;
  /** The status the stream ended with, if it ended with an error. */
  error: grpc.ServiceError | undefined;

  constructor(private readonly opts: SimClientOptions) {
    const Ctor = clientCtor();
    this.client = new Ctor(opts.address, opts.credentials ?? grpc.credentials.createInsecure());
  }

  start(initialVersions?: Map<string, Map<string, string>>): void {
    const node = { id: this.opts.nodeId, cluster: 'sim' };
    if (this.opts.delta) {
      const s = this.client.DeltaAggregatedResources();
      this.stream = s;
      s.on('data', (r: DeltaResponse) => this.onDelta(r));
      for (const type of [TYPE.cluster, TYPE.listener]) {
        s.write({ node, type_url: type, initial_resource_versions: Object.fromEntries(initialVersions?.get(type) ?? []) });
      }
    } else {
      const s = this.client.StreamAggregatedResources();
      this.stream = s;
      s.on('data', (r: Response) => this.onSotw(r));
      for (const type of [TYPE.cluster, TYPE.listener]) s.write({ node, type_url: type, version_info: this.acked.get(type) ?? '' });
    }
    this.stream.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      this.closed = true;
    });
    this.stream.on('end', () => {
      this.closed = true;
    });
  }

  private record(type: string, version: string, resources: number, removed: number): void {
    this.responses.push({ type, version, resources, removed, at: performance.now() });
    for (const l of this.listeners) l();
  }

  private names(type: string, resources: AnyMsg[]): string[] {
    const t = envoyRoot().lookupType(type.slice(type.lastIndexOf('/') + 1));
    return resources.map((a) => {
      const m = t.decode(a.value) as unknown as { name?: string; cluster_name?: string; route_config_name?: string };
      return m.name ?? m.cluster_name ?? '';
    });
  }

  private onSotw(r: Response): void {
    const error = this.opts.reject?.(r.type_url, r.version_info);
    if (error === undefined) {
      this.acked.set(r.type_url, r.version_info);
      const wildcard = r.type_url === TYPE.cluster || r.type_url === TYPE.listener;
      const track = this.opts.trackNames !== false;
      const names = wildcard || track ? this.names(r.type_url, r.resources) : [];
      if (r.type_url === TYPE.cluster) this.edsNames = new Set(names);
      if (r.type_url === TYPE.listener) this.rdsNames = new Set(['mcp_routes']);
      if (track) {
        const subscribed = r.type_url === TYPE.endpoints ? this.edsNames : this.rdsNames;
        const kept = wildcard ? [] : [...(this.held.get(r.type_url) ?? [])].filter(([n]) => subscribed.has(n));
        this.held.set(r.type_url, new Map([...kept, ...names.map((n, i): [string, string] => [n, contentVersion(r.resources[i]!.value)])]));
      }
    }
    this.record(r.type_url, r.version_info, r.resources.length, 0);
    this.stream!.write({
      type_url: r.type_url,
      version_info: this.acked.get(r.type_url) ?? '',
      response_nonce: r.nonce,
      resource_names: r.type_url === TYPE.endpoints ? [...this.edsNames] : r.type_url === TYPE.route ? [...this.rdsNames] : [],
      ...(error !== undefined ? { error_detail: { code: 3, message: error } } : {}),
    });
    // Like Envoy: new clusters and listeners lead to EDS and RDS subscriptions.
    if (error === undefined && r.type_url === TYPE.cluster) {
      this.stream!.write({
        type_url: TYPE.endpoints,
        version_info: this.acked.get(TYPE.endpoints) ?? '',
        resource_names: [...this.edsNames],
        response_nonce: this.lastNonce.get(TYPE.endpoints) ?? '',
      });
    }
    if (error === undefined && r.type_url === TYPE.listener) {
      this.stream!.write({
        type_url: TYPE.route,
        version_info: this.acked.get(TYPE.route) ?? '',
        resource_names: [...this.rdsNames],
        response_nonce: this.lastNonce.get(TYPE.route) ?? '',
      });
    }
    this.lastNonce.set(r.type_url, r.nonce);
  }

  private readonly lastNonce = new Map<string, string>();

  private onDelta(r: DeltaResponse): void {
    const error = this.opts.reject?.(r.type_url, r.system_version_info);
    const held = this.held.get(r.type_url) ?? new Map<string, string>();
    if (error === undefined) {
      for (const res of r.resources) held.set(res.name, res.version);
      for (const name of r.removed_resources) held.delete(name);
      this.held.set(r.type_url, held);
      this.acked.set(r.type_url, r.system_version_info);
    }
    this.record(r.type_url, r.system_version_info, r.resources.length, r.removed_resources.length);
    this.stream!.write({
      type_url: r.type_url,
      response_nonce: r.nonce,
      ...(error !== undefined ? { error_detail: { code: 3, message: error } } : {}),
    });
    if (error !== undefined) return;
    if (r.type_url === TYPE.cluster) {
      const subscribe = r.resources.map((x) => x.name).filter((n) => !this.edsNames.has(n));
      for (const n of subscribe) this.edsNames.add(n);
      const unsubscribe = r.removed_resources.filter((n) => this.edsNames.delete(n));
      if (subscribe.length || unsubscribe.length)
        this.stream!.write({ type_url: TYPE.endpoints, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe });
    }
    if (r.type_url === TYPE.listener && !this.rdsNames.has('mcp_routes')) {
      this.rdsNames.add('mcp_routes');
      this.stream!.write({ type_url: TYPE.route, resource_names_subscribe: ['mcp_routes'] });
    }
  }

  /** Resolves when `predicate` holds, checked after every response. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`sim client ${this.opts.nodeId}: condition not met in ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.client.close();
  }
}
