// Incremental (delta) ADS: only changed resources and explicit removals go out,
// per resource version. Protocol state lives here and nowhere else.
import { Holdings } from './delta-holdings.js';
import { mayRemove, type ResourceType } from './resource-types/resource-type.js';
import type { Snapshot, SnapshotResource } from './snapshot.js';
import { type DeltaDiscoveryRequest, DeltaDiscoveryRequestSchema, type DeltaDiscoveryResponse, nackMessage } from './xds-messages.js';
import { type StreamHooks, type TypeState, XdsStream } from './xds-stream.js';

interface InFlight {
  readonly nonce: string;
  readonly systemVersion: string;
  /** What the client held before this response: a NACK restores the names it carried. */
  readonly before: Holdings;
  readonly sent: readonly SnapshotResource[];
  readonly removed: readonly string[];
}

interface DeltaTypeState extends TypeState {
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** What the client holds, as far as it told us or we sent and it did not reject. */
  client: Holdings;
  inFlight: InFlight | undefined;
  /** name → version Envoy rejected: never sent again, until the version changes. */
  rejected: Map<string, string>;
  /** Names to send again whatever their version (what names them changed and is warming). */
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

export class DeltaStream extends XdsStream<DeltaDiscoveryRequest, DeltaTypeState> {
  constructor(
    peer: string,
    hooks: StreamHooks,
    private readonly write: (response: DeltaDiscoveryResponse) => void,
  ) {
    super('delta', peer, hooks);
  }

  protected parse(raw: unknown): DeltaDiscoveryRequest {
    return DeltaDiscoveryRequestSchema.parse(raw);
  }

  protected newTypeState(): DeltaTypeState {
    return {
      requested: false,
      wildcard: false,
      names: new Set(),
      client: new Holdings(),
      inFlight: undefined,
      rejected: new Map(),
      force: new Set(),
      dirty: new Set(),
    };
  }

  protected request(type: ResourceType, st: DeltaTypeState, req: DeltaDiscoveryRequest): boolean {
    if (!st.requested) {
      st.requested = true;
      // Legacy wildcard: the first request of a wildcard type naming nothing.
      st.wildcard = type.wildcard && req.resource_names_subscribe.length === 0;
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
        this.recordAck(type.url, flight.systemVersion);
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
        this.recordNack(type.url, flight.systemVersion, nack);
      }
    }
    return true;
  }

  private markAll(type: ResourceType, st: DeltaTypeState): void {
    for (const name of this.hooks.snapshot()?.get(type.url)?.resources.keys() ?? []) st.dirty.add(name);
    for (const name of st.client.keys()) st.dirty.add(name);
  }

  protected override changed(st: DeltaTypeState, names: ReadonlySet<string>): void {
    for (const n of names) st.dirty.add(n);
  }

  protected override settled(type: ResourceType, st: DeltaTypeState, snapshot: Snapshot): void {
    if (st.rejected.size > 0) return;
    const set = snapshot.get(type.url);
    if (set) st.client.rebase(set.resources);
  }

  protected inFlight(st: DeltaTypeState): boolean {
    return st.inFlight !== undefined;
  }

  protected current(type: ResourceType, st: DeltaTypeState): boolean {
    const p = this.pending(type, st);
    return p.updates.length === 0 && p.removals.length === 0;
  }

  private subscribed(st: DeltaTypeState, name: string): boolean {
    return st.wildcard || st.names.has(name);
  }

  private pending(type: ResourceType, st: DeltaTypeState): Pending {
    const set = this.hooks.snapshot()?.get(type.url);
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
    if (removals.length > 0 && !mayRemove(type, this.progress)) return { updates, removals: [], complete: false };
    return { updates, removals, complete: true };
  }

  protected send(type: ResourceType, st: DeltaTypeState): void {
    const { updates, removals, complete } = this.pending(type, st);
    if (updates.length === 0 && removals.length === 0) return;
    const set = this.hooks.snapshot()?.get(type.url);
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
      type_url: type.url,
      removed_resources: removals,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.inFlight = { nonce, systemVersion, before, sent: updates, removed: removals };
    const refs = type.references;
    if (refs?.resentOnChange) {
      // A changed resource warms until what it names arrives again.
      const named = this.state(refs.type);
      for (const r of updates) {
        for (const name of refs.names(r.any)) {
          named.force.add(name);
          named.dirty.add(name);
        }
      }
    }
    this.recordPush(type.url, systemVersion, nonce, updates.length, removals.length);
  }
}
