// What the SotW and delta streams share: identity of the connected Envoy, the
// per-type ACK/NACK record the admin API shows, and the hooks to the server.
import type { Logger } from '../../lib/log.js';
import type { TypeUrl } from './api/type-urls.js';
import { typeName, type TypeName } from './push-order.js';
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

let streamCounter = 0;

export abstract class XdsStream {
  readonly id = `s${++streamCounter}`;
  readonly connectedSince = new Date();
  node: XdsNode | undefined;
  readonly acked = new Map<TypeUrl, string>();
  lastNack: NackRecord | undefined;
  protected nonceCounter = 0;
  /** Last generation this stream reported converged for. */
  private convergedAt = -1;
  protected log: Logger;

  constructor(
    readonly variant: 'sotw' | 'delta',
    readonly peer: string,
    protected readonly hooks: StreamHooks,
  ) {
    this.log = hooks.logger.child({ stream: this.id, variant });
  }

  protected setNode(node: XdsNode | null | undefined): void {
    if (this.node || !node) return;
    this.node = node;
    this.log = this.log.child({ nodeId: node.id, cluster: node.cluster });
    this.log.info({ peer: this.peer }, 'envoy connected');
  }

  protected nextNonce(): string {
    return `${this.id}-${++this.nonceCounter}`;
  }

  protected recordAck(type: TypeUrl, version: string): void {
    this.acked.set(type, version);
    this.hooks.acked(this, type, version);
  }

  protected recordNack(type: TypeUrl, version: string, message: string): void {
    const first = this.lastNack?.version !== version || this.lastNack.type !== typeName(type);
    this.lastNack = { type: typeName(type), version, message, at: new Date().toISOString() };
    // Logged once per rejected version: Envoy repeats the NACK on every request.
    if (first) this.log.warn({ type: typeName(type), version, error: message }, 'envoy rejected config (NACK)');
    this.hooks.nacked(this, type, version, message);
  }

  /** Called after every pump that left nothing to send and nothing in flight. */
  protected reportConverged(): void {
    const g = this.hooks.generation();
    if (this.convergedAt === g) return;
    this.convergedAt = g;
    this.hooks.converged(this, g);
  }

  isConvergedAt(g: number): boolean {
    return this.convergedAt === g;
  }

  /** Handles one request from Envoy; throws on a message that does not parse. */
  abstract handle(raw: unknown): void;

  /**
   * Re-evaluates what to send. `changed` names, per type, the resources whose
   * version differs from the previous snapshot (absent: nothing new).
   */
  abstract pump(changed?: ReadonlyMap<TypeUrl, ReadonlySet<string>>): void;
}
