// Incremental (delta) ADS: only changed resources and explicit removals go out,
// per resource version. Protocol state lives here and nowhere else.
import { TYPE, type TypeUrl } from './api/type-urls.js';
import { isServedType, isWildcardType, mayRemoveClusters, maySend, PUSH_ORDER, typeName, type TypeProgress } from './push-order.js';
import type { SnapshotResource } from './snapshot.js';
import { DeltaDiscoveryRequestSchema, nackMessage, type DeltaDiscoveryResponse } from './xds-messages.js';
import { XdsStream, type StreamHooks } from './xds-stream.js';

interface InFlight {
  readonly nonce: string;
  readonly systemVersion: string;
  /** What the client held before this response: a NACK restores the names it carried. */
  readonly before: Holdings;
  readonly sent: readonly SnapshotResource[];
  readonly removed: readonly string[];
}

/**
 * What a client holds: a snapshot's resources it is known to hold in full, plus
 * the names where it differs. A thousand Envoys in sync cost a reference each,
 * not a thousand copies of every name and version.
 */
class Holdings {
  private base: ReadonlyMap<string, SnapshotResource> | undefined;
  private overrides = new Map<string, string | null>();

  get(name: string): string | undefined {
    const o = this.overrides.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.base?.get(name)?.version;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  set(name: string, version: string): void {
    this.overrides.set(name, version);
  }
  delete(name: string): void {
    if (this.base?.has(name) || this.overrides.has(name)) this.overrides.set(name, null);
  }
  *keys(): Iterable<string> {
    for (const name of this.base?.keys() ?? []) if (this.overrides.get(name) !== null) yield name;
    for (const [name, v] of this.overrides) if (v !== null && !this.base?.has(name)) yield name;
  }
  /** The client now holds exactly `resources` (for every name it subscribes to). */
  rebase(resources: ReadonlyMap<string, SnapshotResource>): void {
    this.base = resources;
    this.overrides = new Map();
  }
  /** Cheap while in sync: the base is shared, the differences are few. */
  clone(): Holdings {
    const copy = new Holdings();
    copy.base = this.base;
    copy.overrides = new Map(this.overrides);
    return copy;
  }
  /** Takes `name` back to what `from` says the client held. */
  restore(name: string, from: Holdings): void {
    const version = from.get(name);
    if (version === undefined) this.delete(name);
    else this.set(name, version);
  }
}

interface DeltaTypeState {
  requested: boolean;
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** What the client holds, as far as it told us or we sent and it did not reject. */
  client: Holdings;
  inFlight: InFlight | undefined;
  /** name → version Envoy rejected: never sent again, until the version changes. */
  rejected: Map<string, string>;
  /** Endpoints to send again whatever their version (their cluster changed and is warming). */
  force: Set<string>;
  /**
   * Names that may differ between the snapshot and the client. Only these are
   * examined on a pump: with a thousand Envoys, scanning every resource of every
   * stream on each change would cost more than the change itself.
   */
  dirty: Set<string>;
}

interface Pending {
  readonly updates: SnapshotResource[];
  readonly removals: string[];
  /** Nothing held back: once these are sent, the client holds what the snapshot has. */
  readonly complete: boolean;
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
        client: new Holdings(),
        inFlight: undefined,
        rejected: new Map(),
        force: new Set(),
        dirty: new Set(),
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
      for (const [name, version] of Object.entries(req.initial_resource_versions)) {
        st.client.set(name, version);
        st.dirty.add(name);
      }
      if (st.wildcard) this.markAll(type, st);
    }
    if (req.resource_names_subscribe.length > 0 || req.resource_names_unsubscribe.length > 0) {
      const names = new Set(st.names);
      for (const name of req.resource_names_subscribe) {
        if (name === '*') {
          st.wildcard = true;
          this.markAll(type, st);
        } else {
          // Holdings rebased onto a snapshot name every resource in it; a client
          // cannot hold one it never subscribed to (unless it says so on reconnect).
          if (!st.wildcard && !names.has(name) && !Object.hasOwn(req.initial_resource_versions, name)) st.client.delete(name);
          names.add(name);
          st.dirty.add(name);
        }
      }
      for (const name of req.resource_names_unsubscribe) {
        if (name === '*') st.wildcard = false;
        else {
          names.delete(name);
          st.client.delete(name);
        }
      }
      st.names = this.hooks.names(names);
    }
    // Subscription changes count even on a stale nonce; ACK/NACK only on the current one.
    if (req.response_nonce !== '' && st.inFlight && req.response_nonce === st.inFlight.nonce) {
      const flight = st.inFlight;
      st.inFlight = undefined;
      const nack = nackMessage(req.error_detail);
      if (nack === undefined) {
        this.recordAck(type, flight.systemVersion);
      } else {
        for (const r of flight.sent) {
          st.rejected.set(r.name, r.version);
          st.dirty.add(r.name);
          st.client.restore(r.name, flight.before);
        }
        for (const name of flight.removed) {
          st.dirty.add(name);
          st.client.restore(name, flight.before);
        }
        this.recordNack(type, flight.systemVersion, nack);
      }
    }
    this.pump();
  }

  private markAll(type: TypeUrl, st: DeltaTypeState): void {
    for (const name of this.hooks.snapshot()?.get(type)?.resources.keys() ?? []) st.dirty.add(name);
    for (const name of st.client.keys()) st.dirty.add(name);
  }

  pump(changed?: ReadonlyMap<TypeUrl, ReadonlySet<string>>): void {
    const snapshot = this.hooks.snapshot();
    if (!snapshot) return;
    if (changed) {
      for (const [type, names] of changed) {
        const st = this.types.get(type);
        if (st?.requested) for (const n of names) st.dirty.add(n);
      }
    }
    let idle = true;
    for (const type of PUSH_ORDER) {
      const st = this.types.get(type);
      if (!st?.requested) continue;
      if (!st.inFlight && maySend(type, (t) => this.progress(t))) this.trySend(type);
      if (st.inFlight || this.hasPending(type)) idle = false;
      else if (st.rejected.size === 0) {
        const set = snapshot.get(type);
        if (set) st.client.rebase(set.resources);
      }
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
    if (!set) return { updates: [], removals: [], complete: true };
    const updates: SnapshotResource[] = [];
    const removals: string[] = [];
    for (const name of st.dirty) {
      if (!this.subscribed(st, name)) {
        st.dirty.delete(name);
        continue;
      }
      const r = set.resources.get(name);
      if (r) {
        if (st.rejected.get(name) === r.version) st.dirty.delete(name);
        else if (st.client.get(name) !== r.version || st.force.has(name)) updates.push(r);
        else st.dirty.delete(name);
      } else if (st.client.has(name)) removals.push(name);
      else st.dirty.delete(name);
    }
    if (type === TYPE.cluster && removals.length > 0 && !mayRemoveClusters((t) => this.progress(t))) {
      return { updates, removals: [], complete: false };
    }
    return { updates, removals, complete: true };
  }

  private trySend(type: TypeUrl): void {
    const st = this.state(type);
    const { updates, removals, complete } = this.pending(type);
    if (updates.length === 0 && removals.length === 0) return;
    const set = this.hooks.snapshot()?.get(type);
    const before = st.client.clone();
    for (const r of updates) {
      st.force.delete(r.name);
      st.dirty.delete(r.name);
    }
    for (const name of removals) st.dirty.delete(name);
    if (complete && set && st.rejected.size === 0) {
      // The usual case, and the whole of an initial sync: no per-name record.
      st.client.rebase(set.resources);
    } else {
      for (const r of updates) st.client.set(r.name, r.version);
      for (const name of removals) st.client.delete(name);
    }
    const nonce = this.nextNonce();
    const systemVersion = set?.version ?? '';
    this.write({
      system_version_info: systemVersion,
      resources: updates,
      type_url: type,
      removed_resources: removals,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.inFlight = { nonce, systemVersion, before, sent: updates, removed: removals };
    if (type === TYPE.cluster) {
      // Changed clusters warm until Envoy gets their endpoints again.
      const eds = this.state(TYPE.endpoints);
      for (const r of updates) {
        eds.force.add(r.name);
        eds.dirty.add(r.name);
      }
    }
    this.log.debug(
      { type: typeName(type), version: systemVersion, nonce, resources: updates.length, removed: removals.length },
      'push',
    );
    this.hooks.pushed(this, type, updates.length, removals.length);
  }
}
