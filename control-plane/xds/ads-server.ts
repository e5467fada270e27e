// The ADS gRPC server: accepts any number of Envoys on SotW and delta streams,
// tells each stream when the snapshot cache serves a new snapshot, and reports
// when they have all converged on it.

import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import { envoyNodeUri } from '../../lib/mesh-contracts.js';
import { adsPackageDefinition } from './api/envoy-protos.js';
import type { TypeUrl } from './api/type-urls.js';
import { DeltaStream } from './delta-stream.js';
import { NameSets } from './name-sets.js';
import { typeName } from './resource-types/registry.js';
import type { TypeName } from './resource-types/resource-type.js';
import { DeltaResponseEncoder, SendBudget, SotwResponseCache, withPreEncodedResponses } from './response-encoding.js';
import type { Snapshot } from './snapshot.js';
import { SnapshotCache } from './snapshot-cache.js';
import { SotwStream } from './sotw-stream.js';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from './xds-messages.js';
import type { StreamHooks, XdsStream } from './xds-stream.js';

export interface AdsEvents {
  pushed?(type: TypeName, variant: 'sotw' | 'delta'): void;
  acked?(type: TypeName): void;
  nacked?(type: TypeName, nodeId: string, version: string, message: string): void;
  /** Every connected stream ACKed generation g; ms since setSnapshot(g). */
  converged?(generation: number, ms: number): void;
  clientsChanged?(count: number): void;
}

export interface AdsServerOptions {
  readonly logger: Logger;
  readonly events?: AdsEvents;
  readonly identifier?: string;
  /** Serve xDS over TLS, and only to Envoys whose client certificate names their node id. */
  readonly tls?: XdsTlsOptions;
}

/** The xDS port's certificate, and the CA that Envoys' client certificates must chain to. */
export interface XdsTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string;
}

/**
 * Whether a client certificate names this node id: its subject CN is the id,
 * or a SAN is the URI spiffe://mcpmesh/envoy/<id> or the DNS name <id>.
 */
export function certificateNamesNode(cert: PeerCertificate, nodeId: string): boolean {
  if (nodeId === '') return false;
  const cn = cert.subject?.CN;
  if ((Array.isArray(cn) ? cn : [cn]).includes(nodeId)) return true;
  const sans = (cert.subjectaltname ?? '').split(', ');
  return sans.includes(`URI:${envoyNodeUri(nodeId)}`) || sans.includes(`DNS:${nodeId}`);
}

interface ServiceDef {
  service: grpc.ServiceDefinition;
}

function adsService(): grpc.ServiceDefinition {
  const pkg = grpc.loadPackageDefinition(adsPackageDefinition()) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: ServiceDef } } } };
  };
  return withPreEncodedResponses(pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service);
}

export class AdsServer {
  private readonly cache = new SnapshotCache();
  private generationAt = 0;
  private convergedGeneration = -1;
  private hadClientsAtGeneration = false;
  private readonly streams = new Set<XdsStream>();
  private readonly sotwBodies = new SotwResponseCache();
  private readonly deltaEncoder = new DeltaResponseEncoder();
  private readonly budget = new SendBudget();
  private readonly server = new grpc.Server({
    // Envoy keeps one ADS stream for its lifetime; keepalives find dead peers.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  private readonly log: Logger;
  private readonly events: AdsEvents;
  private readonly identifier: string;
  private readonly nameSets = new NameSets();
  private readonly tls: XdsTlsOptions | undefined;

  constructor(opts: AdsServerOptions) {
    this.tls = opts.tls;
    this.log = opts.logger;
    this.events = opts.events ?? {};
    this.identifier = opts.identifier ?? 'mcpmesh';
    this.server.addService(adsService(), {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, Buffer>) =>
        this.serve(
          call,
          (hooks) => new SotwStream(call.getPeer(), hooks, (r: DiscoveryResponse) => this.paced(call, () => this.sotwBodies.encode(r))),
        ),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, Buffer>) =>
        this.serve(
          call,
          (hooks) =>
            new DeltaStream(call.getPeer(), hooks, (r: DeltaDiscoveryResponse) => this.paced(call, () => this.deltaEncoder.encode(r))),
        ),
    });
  }

  /** Another gRPC service on the xDS port (the list filter); before listen(). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, implementation);
  }

  private paced(call: grpc.ServerDuplexStream<unknown, Buffer>, encode: () => Buffer): void {
    this.budget.send(
      encode,
      (buf, done) => {
        // Released on flush, or when the stream goes away with data unflushed.
        call.once('close', done);
        call.write(buf, () => {
          call.off('close', done);
          done();
        });
      },
      () => !call.cancelled && !call.destroyed,
    );
  }

  async listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, this.credentials(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /** Plain, or TLS that requires a client certificate from the mesh CA (the node id is checked per stream). */
  private credentials(): grpc.ServerCredentials {
    if (!this.tls) return grpc.ServerCredentials.createInsecure();
    return grpc.ServerCredentials.createSsl(
      readFileSync(this.tls.clientCaFile),
      [{ cert_chain: readFileSync(this.tls.certFile), private_key: readFileSync(this.tls.keyFile) }],
      true,
    );
  }

  /** Why this stream's first request may not be served (its certificate names another node), or undefined. */
  private refusal(call: grpc.ServerDuplexStream<unknown, unknown>, msg: unknown): string | undefined {
    if (!this.tls) return undefined;
    const node = (msg as { node?: { id?: unknown } | null } | null)?.node;
    const nodeId = typeof node?.id === 'string' ? node.id : '';
    if (nodeId === '') return 'the first discovery request names no node id';
    const cert = call.getAuthContext()?.sslPeerCertificate;
    if (!cert) return 'no verified client certificate';
    if (!certificateNamesNode(cert, nodeId))
      return `the client certificate (CN ${String(cert.subject?.CN ?? '')}) does not name node id ${nodeId}`;
    return undefined;
  }

  async stop(graceMs = 2_000): Promise<void> {
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
      // Open ADS streams never finish by themselves.
      for (const s of this.streams) this.closers.get(s)?.();
    });
  }

  private readonly closers = new Map<XdsStream, () => void>();

  /**
   * Installs a new snapshot and pushes what changed to every stream. Throws an
   * InconsistentSnapshotError for one that does not hold together, which is not
   * served: the previous snapshot stays.
   */
  setSnapshot(snapshot: Snapshot): void {
    const changed = this.cache.set(snapshot);
    this.sotwBodies.clear();
    this.generationAt = performance.now();
    this.hadClientsAtGeneration = this.streams.size > 0;
    for (const s of this.streams) s.pump(changed);
    this.checkConverged();
  }

  private readonly convergedListeners = new Set<(generation: number, ms: number) => void>();

  /** Calls `fn` each time every connected stream has ACKed a generation; returns an unsubscribe. */
  onConverged(fn: (generation: number, ms: number) => void): () => void {
    this.convergedListeners.add(fn);
    return () => this.convergedListeners.delete(fn);
  }

  currentSnapshot(): Snapshot | undefined {
    return this.cache.current();
  }

  currentGeneration(): number {
    return this.cache.currentGeneration();
  }

  clients(): readonly XdsStream[] {
    return [...this.streams];
  }

  private serve<Res>(call: grpc.ServerDuplexStream<unknown, Res>, make: (hooks: StreamHooks) => SotwStream | DeltaStream): void {
    const stream = make({
      snapshot: () => this.cache.current(),
      generation: () => this.cache.currentGeneration(),
      logger: this.log,
      identifier: this.identifier,
      pushed: (s, type) => this.events.pushed?.(typeName(type), s.variant),
      acked: (_s, type) => this.events.acked?.(typeName(type)),
      nacked: (s, type: TypeUrl, version, message) => this.events.nacked?.(typeName(type), s.node?.id ?? '', version, message),
      converged: () => this.checkConverged(),
      names: (names) => this.nameSets.intern(names),
    });
    this.streams.add(stream);
    this.events.clientsChanged?.(this.streams.size);
    let closed = false;
    const close = (why: string, err?: Error) => {
      if (closed) return;
      closed = true;
      this.streams.delete(stream);
      this.closers.delete(stream);
      this.events.clientsChanged?.(this.streams.size);
      this.log.info({ stream: stream.id, nodeId: stream.node?.id, why, err: err?.message }, 'envoy disconnected');
      this.checkConverged();
    };
    this.closers.set(stream, () => {
      call.end();
      close('server stopping');
    });
    let checked = false;
    call.on('data', (msg: unknown) => {
      if (!checked) {
        checked = true;
        const why = this.refusal(call, msg);
        if (why !== undefined) {
          this.log.warn({ stream: stream.id, peer: call.getPeer(), reason: why }, 'xDS client refused');
          // grpc-js turns an 'error' on a server stream into its status (destroy() would send none).
          call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: `permission denied: ${why}` });
          close('permission denied');
          return;
        }
      }
      if (closed) return;
      try {
        stream.handle(msg);
      } catch (err) {
        // A request that does not parse is a broken client: end its stream
        // with a status that says why, and keep serving the others.
        this.log.warn({ stream: stream.id, err: (err as Error).message }, 'invalid discovery request');
        call.destroy(
          Object.assign(new Error(`invalid discovery request: ${(err as Error).message}`), { code: grpc.status.INVALID_ARGUMENT }),
        );
        close('invalid request');
      }
    });
    call.on('end', () => {
      call.end();
      close('client ended stream');
    });
    call.on('error', (err: Error) => close('stream error', err));
    call.on('close', () => close('closed'));
  }

  /** Every connected stream holds the current generation. */
  isConverged(): boolean {
    const generation = this.cache.currentGeneration();
    return this.cache.current() !== undefined && [...this.streams].every((s) => s.isConvergedAt(generation));
  }

  private checkConverged(): void {
    const generation = this.cache.currentGeneration();
    if (this.convergedGeneration === generation || !this.isConverged()) return;
    this.convergedGeneration = generation;
    // A generation installed before any Envoy connected measures nothing.
    if (!this.hadClientsAtGeneration) return;
    const ms = performance.now() - this.generationAt;
    this.events.converged?.(generation, ms);
    for (const fn of this.convergedListeners) fn(generation, ms);
  }
}
