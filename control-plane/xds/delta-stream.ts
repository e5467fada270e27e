// Incremental (delta) ADS: only changed resources and explicit removals go out,
// per resource version. Protocol state lives here and nowhere else.
import type { SnapshotResource } from '../envoy/snapshot.js';
import { TYPE, type TypeUrl } from './envoy-protos.js';
import { isServedType, isWildcardType, mayRemoveClusters, maySend, PUSH_ORDER, typeName, type TypeProgress } from './push-order.js';
import { DeltaDiscoveryRequestSchema, nackMessage, type DeltaDiscoveryResponse } from './xds-messages.js';
import { XdsStream, type StreamHooks } from './xds-stream.js';

interface InFlight {
  readonly nonce: string;
  readonly systemVersion: string;
  /** name → version before this response (undefined: the client did not have it). */
  readonly previous: ReadonlyMap<string, string | undefined>;
  /** name → version sent (undefined: removal). */
  readonly sent: ReadonlyMap<string, string | undefined>;
}

interface DeltaTypeState {
  requested: boolean;
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds, as far as it told us or we sent and it did not reject. */
  client: Map<string, string>;
  inFlight: InFlight | undefined;
  /** name → version Envoy rejected: never sent again, until the version changes. */
  rejected: Map<string, string>;
  /** Endpoints to send again whatever their version (their cluster changed and is warming). */
  force: Set<string>;
}

interface Pending {
  readonly updates: SnapshotResource[];
  readonly removals: string[];
}

export class DeltaStream extends XdsStream {
  private readonly types = new Map<TypeUrl, DeltaTypeState>();

  constructor(
    peer: string,
    hooks: StreamHooks,
    private readonly write: (response: DeltaDiscoveryResponse) => void,
  ) {
    super('delta', peer, hooks);
  }

  private state(type: TypeUrl): DeltaTypeState {
    let st = this.types.get(type);
    if (!st) {
      st = {
        requested: false,
        wildcard: false,
        names: new Set(),
        client: new Map(),
        inFlight: undefined,
        rejected: new Map(),
        force: new Set(),
      };
      this.types.set(type, st);
    }
    return st;
  }

  handle(raw: unknown): void {
    const req = DeltaDiscoveryRequestSchema.parse(raw);
    this.setNode(req.node);
    if (!isServedType(req.type_url)) {
      this.log.debug({ typeUrl: req.type_url }, 'ignoring request for a type this control plane does not serve');
      return;
    }
    const type = req.type_url;
    const st = this.state(type);
    if (!st.requested) {
      st.requested = true;
      // Legacy wildcard: the first request of a wildcard type naming nothing.
      st.wildcard = isWildcardType(type) && req.resource_names_subscribe.length === 0;
      // After a reconnect Envoy says what it holds; those need not be sent again.
      for (const [name, version] of Object.entries(req.initial_resource_versions)) st.client.set(name, version);
    }
    for (const name of req.resource_names_subscribe) {
      if (name === '*') st.wildcard = true;
      else st.names.add(name);
    }
    for (const name of req.resource_names_unsubscribe) {
      if (name === '*') st.wildcard = false;
      else {
        st.names.delete(name);
        st.client.delete(name);
      }
    }
    // Subscription changes count even on a stale nonce; ACK/NACK only on the current one.
    if (req.response_nonce !== '' && st.inFlight && req.response_nonce === st.inFlight.nonce) {
      const flight = st.inFlight;
      st.inFlight = undefined;
      const nack = nackMessage(req.error_detail);
      if (nack === undefined) {
        this.recordAck(type, flight.systemVersion);
      } else {
        for (const [name, version] of flight.sent) {
          if (version !== undefined) st.rejected.set(name, version);
          const before = flight.previous.get(name);
          if (before === undefined) st.client.delete(name);
          else st.client.set(name, before);
        }
        this.recordNack(type, flight.systemVersion, nack);
      }
    }
    this.pump();
  }

  pump(): void {
    const snapshot = this.hooks.snapshot();
    if (!snapshot) return;
    let idle = true;
    for (const type of PUSH_ORDER) {
      const st = this.types.get(type);
      if (!st?.requested) continue;
      if (!st.inFlight && maySend(type, (t) => this.progress(t))) this.trySend(type);
      if (st.inFlight || this.hasPending(type)) idle = false;
    }
    if (idle && this.types.size > 0) this.reportConverged();
  }

  private progress(type: TypeUrl): TypeProgress {
    const st = this.types.get(type);
    if (!st?.requested) return { requested: false, inFlight: false, current: true };
    return { requested: true, inFlight: st.inFlight !== undefined, current: !this.hasPending(type) };
  }

  private subscribed(st: DeltaTypeState, name: string): boolean {
    return st.wildcard || st.names.has(name);
  }

  private hasPending(type: TypeUrl): boolean {
    const p = this.pending(type);
    return p.updates.length > 0 || p.removals.length > 0;
  }

  private pending(type: TypeUrl): Pending {
    const set = this.hooks.snapshot()?.get(type);
    const st = this.state(type);
    if (!set) return { updates: [], removals: [] };
    const updates: SnapshotResource[] = [];
    const consider = st.wildcard ? set.resources.values() : [...st.names].flatMap((n) => set.resources.get(n) ?? []);
    for (const r of consider) {
      if (st.rejected.get(r.name) === r.version) continue;
      if (st.client.get(r.name) !== r.version || st.force.has(r.name)) updates.push(r);
    }
    let removals = [...st.client.keys()].filter((n) => !set.resources.has(n) && this.subscribed(st, n));
    if (type === TYPE.cluster && removals.length > 0 && !mayRemoveClusters((t) => this.progress(t))) {
      removals = [];
    }
    return { updates, removals };
  }

  private trySend(type: TypeUrl): void {
    const st = this.state(type);
    const { updates, removals } = this.pending(type);
    if (updates.length === 0 && removals.length === 0) return;
    const set = this.hooks.snapshot()?.get(type);
    const previous = new Map<string, string | undefined>();
    const sent = new Map<string, string | undefined>();
    for (const r of updates) {
      previous.set(r.name, st.client.get(r.name));
      sent.set(r.name, r.version);
      st.client.set(r.name, r.version);
      st.force.delete(r.name);
    }
    for (const name of removals) {
      previous.set(name, st.client.get(name));
      sent.set(name, undefined);
      st.client.delete(name);
    }
    const nonce = this.nextNonce();
    const systemVersion = set?.version ?? '';
    this.write({
      system_version_info: systemVersion,
      resources: updates.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
      type_url: type,
      removed_resources: removals,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.inFlight = { nonce, systemVersion, previous, sent };
    if (type === TYPE.cluster) {
      // Changed clusters warm until Envoy gets their endpoints again.
      const eds = this.state(TYPE.endpoints);
      for (const r of updates) eds.force.add(r.name);
    }
    this.log.debug(
      { type: typeName(type), version: systemVersion, nonce, resources: updates.length, removed: removals.length },
      'push',
    );
    this.hooks.pushed(this, type, updates.length, removals.length);
  }
}
