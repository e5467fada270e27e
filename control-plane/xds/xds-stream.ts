// What the SotW and delta streams share: identity of the connected Envoy, the
// per-type ACK/NACK record the admin API shows, the hooks to the server, and
// the request/pump cycle. The variants supply how a request changes a type's
// state, what is pending, and how a response is sent.
import type { Logger } from '../../lib/log.js';
import type { TypeUrl } from './api/type-urls.js';
import { RESOURCE_TYPES, resourceType, servedType, typeName } from './resource-types/registry.js';
import { maySend, type ResourceType, type TypeName, type TypeProgress } from './resource-types/resource-type.js';
import type { Snapshot } from './snapshot.js';
import type { XdsNode } from './xds-messages.js';

export interface NackRecord {
  readonly type: TypeName;
  readonly version: string;
  readonly message: string;
  readonly at: string;
}

export interface StreamHooks {
  snapshot(): Snapshot | undefined;
  generation(): number;
  readonly logger: Logger;
  readonly identifier: string;
  pushed(stream: XdsStream, type: TypeUrl, resources: number, removed: number): void;
  acked(stream: XdsStream, type: TypeUrl, version: string): void;
  nacked(stream: XdsStream, type: TypeUrl, version: string, message: string): void;
  /** The stream holds everything of generation `g` that it subscribes to. */
  converged(stream: XdsStream, g: number): void;
  /** The shared set of these subscribed names: many streams hold equal subscriptions. */
  names(names: Iterable<string>): ReadonlySet<string>;
}

/** The fields of a request the shared cycle reads. */
export interface StreamRequest {
  readonly node?: XdsNode | null | undefined;
  readonly type_url: string;
}

/** A type's state on one stream; the variants add what they track. */
export interface TypeState {
  /** Envoy has asked for the type on this stream. */
  requested: boolean;
}

const NOT_REQUESTED: TypeProgress = { requested: false, inFlight: false, current: true };

let streamCounter = 0;

export abstract class XdsStream<Req extends StreamRequest = StreamRequest, St extends TypeState = TypeState> {
  readonly id = `s${++streamCounter}`;
  readonly connectedSince = new Date();
  private nodeSeen: XdsNode | undefined;
  private readonly ackedVersions = new Map<TypeUrl, string>();
  private nack: NackRecord | undefined;
  private nonceCounter = 0;
  /** Last generation this stream reported converged for. */
  private convergedAt = -1;
  protected log: Logger;
  private readonly types = new Map<TypeUrl, St>();

  constructor(
    readonly variant: 'sotw' | 'delta',
    readonly peer: string,
    protected readonly hooks: StreamHooks,
  ) {
    this.log = hooks.logger.child({ stream: this.id, variant });
  }

  get node(): XdsNode | undefined {
    return this.nodeSeen;
  }

  /** Per type, the version Envoy last ACKed (or announced holding on reconnect). */
  get acked(): ReadonlyMap<TypeUrl, string> {
    return this.ackedVersions;
  }

  get lastNack(): NackRecord | undefined {
    return this.nack;
  }

  /** Handles one request from Envoy; throws on a message that does not parse. */
  handle(raw: unknown): void {
    const req = this.parse(raw);
    this.setNode(req.node);
    const type = resourceType(req.type_url);
    if (!type) {
      this.log.debug({ typeUrl: req.type_url }, 'ignoring request for a type this control plane does not serve');
      return;
    }
    if (this.request(type, this.state(type.url), req)) this.pump();
  }

  /**
   * Re-evaluates what to send. `changed` names, per type, the resources whose
   * version differs from the previous snapshot (absent: nothing new).
   */
  pump(changed?: ReadonlyMap<TypeUrl, ReadonlySet<string>>): void {
    const snapshot = this.hooks.snapshot();
    if (!snapshot) return;
    if (changed) {
      for (const [type, names] of changed) {
        const st = this.types.get(type);
        if (st?.requested) this.changed(st, names);
      }
    }
    let idle = true;
    for (const type of RESOURCE_TYPES) {
      const st = this.types.get(type.url);
      if (!st?.requested) continue;
      if (!this.inFlight(st) && maySend(type, this.progress)) this.send(type, st);
      if (this.inFlight(st) || !this.current(type, st)) idle = false;
      else this.settled(type, st, snapshot);
    }
    if (idle && this.types.size > 0) this.reportConverged();
  }

  isConvergedAt(g: number): boolean {
    return this.convergedAt === g;
  }

  protected abstract parse(raw: unknown): Req;
  protected abstract newTypeState(): St;
  /** Applies a request to its type's state; false for a request to ignore (nothing to pump). */
  protected abstract request(type: ResourceType, st: St, req: Req): boolean;
  protected abstract inFlight(st: St): boolean;
  /** The client holds what the current snapshot wants for this type. */
  protected abstract current(type: ResourceType, st: St): boolean;
  protected abstract send(type: ResourceType, st: St): void;

  /** The snapshot changed these names of a requested type. */
  protected changed(_st: St, _names: ReadonlySet<string>): void {}

  /** A pump left the type current with nothing in flight. */
  protected settled(_type: ResourceType, _st: St, _snapshot: Snapshot): void {}

  protected state(type: TypeUrl): St {
    let st = this.types.get(type);
    if (!st) {
      st = this.newTypeState();
      this.types.set(type, st);
    }
    return st;
  }

  /** The ordering rules' view of one type on this stream. */
  protected readonly progress = (url: TypeUrl): TypeProgress => {
    const st = this.types.get(url);
    if (!st?.requested) return NOT_REQUESTED;
    return { requested: true, inFlight: this.inFlight(st), current: this.current(servedType(url), st) };
  };

  protected nextNonce(): string {
    return `${this.id}-${++this.nonceCounter}`;
  }

  /** Envoy announced the version it holds (a reconnect after a control-plane restart). */
  protected recordHeld(type: TypeUrl, version: string): void {
    this.ackedVersions.set(type, version);
  }

  protected recordAck(type: TypeUrl, version: string): void {
    this.ackedVersions.set(type, version);
    this.hooks.acked(this, type, version);
  }

  protected recordNack(type: TypeUrl, version: string, message: string): void {
    const name = typeName(type);
    const first = this.nack?.version !== version || this.nack.type !== name;
    this.nack = { type: name, version, message, at: new Date().toISOString() };
    // Logged once per rejected version: Envoy repeats the NACK on every request.
    if (first) this.log.warn({ type: name, version, error: message }, 'envoy rejected config (NACK)');
    this.hooks.nacked(this, type, version, message);
  }

  protected recordPush(type: TypeUrl, version: string, nonce: string, resources: number, removed: number): void {
    this.log.debug({ type: typeName(type), version, nonce, resources, removed }, 'push');
    this.hooks.pushed(this, type, resources, removed);
  }

  private setNode(node: XdsNode | null | undefined): void {
    if (this.nodeSeen || !node) return;
    this.nodeSeen = node;
    this.log = this.log.child({ nodeId: node.id, cluster: node.cluster });
    this.log.info({ peer: this.peer }, 'envoy connected');
  }

  /** Called after every pump that left nothing to send and nothing in flight. */
  private reportConverged(): void {
    const g = this.hooks.generation();
    if (this.convergedAt === g) return;
    this.convergedAt = g;
    this.hooks.converged(this, g);
  }
}
