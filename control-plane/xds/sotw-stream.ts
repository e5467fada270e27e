// State-of-the-world ADS: one response per type carries the whole set the
// client subscribes to. Protocol state lives here and nowhere else.
import { TYPE, type TypeUrl } from './api/type-urls.js';
import { isServedType, isWildcardType, mayRemoveClusters, maySend, PUSH_ORDER, typeName, type TypeProgress } from './push-order.js';
import { resourceSet, type ResourceSet, type SnapshotResource } from './snapshot.js';
import { DiscoveryRequestSchema, nackMessage, type DiscoveryResponse } from './xds-messages.js';
import { XdsStream, type StreamHooks } from './xds-stream.js';

interface SotwTypeState {
  requested: boolean;
  names: ReadonlySet<string>;
  /** The last response sent. */
  sent: { version: string; nonce: string } | undefined;
  inFlight: boolean;
  /** Version the client says it holds (ACKed, or announced on reconnect). */
  clientVersion: string;
  /** Answer the next request even if nothing changed (cluster warming needs its endpoints). */
  forceResend: boolean;
  /** Endpoints: what the client holds after the last response it did not reject. */
  held: ReadonlyMap<string, SnapshotResource> | undefined;
  /** Bumped whenever `names` changes (memo key). */
  namesRev: number;
}

interface Desired {
  readonly version: string;
  readonly resources: ReadonlyMap<string, SnapshotResource>;
}

const NOTHING: Desired = { version: '', resources: new Map() };

export class SotwStream extends XdsStream {
  private readonly types = new Map<TypeUrl, SotwTypeState>();

  constructor(
    peer: string,
    hooks: StreamHooks,
    private readonly write: (response: DiscoveryResponse) => void,
  ) {
    super('sotw', peer, hooks);
  }

  private state(type: TypeUrl): SotwTypeState {
    let st = this.types.get(type);
    if (!st) {
      st = { requested: false, names: new Set(), sent: undefined, inFlight: false, clientVersion: '', forceResend: false, namesRev: 0, held: undefined };
      this.types.set(type, st);
    }
    return st;
  }

  /** Handles one DiscoveryRequest; throws on a message that does not parse. */
  handle(raw: unknown): void {
    const req = DiscoveryRequestSchema.parse(raw);
    this.setNode(req.node);
    if (!isServedType(req.type_url)) {
      this.log.debug({ typeUrl: req.type_url }, 'ignoring request for a type this control plane does not serve');
      return;
    }
    const type = req.type_url;
    const st = this.state(type);
    if (req.response_nonce !== '') {
      // A request answering an older response: Envoy sends a fresh one for the
      // newest response, so acting on this one would be acting twice.
      if (!st.sent || req.response_nonce !== st.sent.nonce) return;
      const nack = nackMessage(req.error_detail);
      st.inFlight = false;
      if (nack !== undefined) {
        // What the client holds is no longer known exactly: the next response is complete.
        st.held = undefined;
        this.recordNack(type, st.sent.version, nack);
      }
      else {
        st.clientVersion = req.version_info;
        this.recordAck(type, req.version_info);
      }
    } else {
      // First request for this type on this stream; after a control-plane
      // restart it names the version Envoy already holds.
      st.clientVersion = req.version_info;
      if (req.version_info !== '') this.acked.set(type, req.version_info);
    }
    st.requested = true;
    if (!isWildcardType(type) && !sameNames(st.names, req.resource_names)) {
      st.names = this.hooks.names(req.resource_names);
      st.namesRev++;
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
      if (st.inFlight || this.desired(type).version !== st.clientVersion) idle = false;
    }
    if (idle && this.types.size > 0) this.reportConverged();
  }

  private progress(type: TypeUrl): TypeProgress {
    const st = this.types.get(type);
    if (!st?.requested) return { requested: false, inFlight: false, current: true };
    return { requested: true, inFlight: st.inFlight, current: this.desired(type).version === st.clientVersion };
  }

  /** Per type: the last answer of desired() and what it was computed from. */
  private readonly memo = new Map<TypeUrl, { set: ResourceSet; namesRev: number; desired: Desired }>();

  private desired(type: TypeUrl): Desired {
    const set = this.hooks.snapshot()?.get(type);
    const st = this.state(type);
    if (!set) return NOTHING;
    if (type === TYPE.cluster || isWildcardType(type)) return this.wildcardDesired(type, set);
    const memo = this.memo.get(type);
    if (memo && memo.set === set && memo.namesRev === st.namesRev) return memo.desired;
    const desired = this.namedDesired(st, set);
    this.memo.set(type, { set, namesRev: st.namesRev, desired });
    return desired;
  }

  private namedDesired(st: SotwTypeState, set: ResourceSet): Desired {
    // Most Envoys subscribe to every cluster's endpoints: then the answer is the
    // whole set, whose version is already known.
    let all = st.names.size >= set.resources.size;
    if (all) for (const name of set.resources.keys()) if (!st.names.has(name)) { all = false; break; }
    if (all) return set;
    const subset: SnapshotResource[] = [];
    for (const name of st.names) {
      const r = set.resources.get(name);
      if (r) subset.push(r);
    }
    return resourceSet(subset);
  }

  private wildcardDesired(type: TypeUrl, set: ResourceSet): Desired {
    if (type === TYPE.cluster) {
      const held = this.heldClusterRemovals(set.resources);
      if (held.length > 0) return resourceSet([...set.resources.values(), ...held]);
    }
    return set;
  }

  /** Clusters the client still has that the snapshot dropped, kept until routes stop using them. */
  private lastSentClusters: ReadonlyMap<string, SnapshotResource> = new Map();

  private heldClusterRemovals(current: ReadonlyMap<string, SnapshotResource>): SnapshotResource[] {
    if (this.lastSentClusters.size === 0 || this.lastSentClusters === current) return [];
    const removed = [...this.lastSentClusters.values()].filter((r) => !current.has(r.name));
    if (removed.length === 0) return [];
    return mayRemoveClusters((t) => this.progress(t)) ? [] : removed;
  }

  /**
   * SotW listeners and clusters are always the full set. For endpoints Envoy
   * treats a missing resource as unchanged (it is removed by unsubscribing), so
   * only what changed goes out: at 1000 servers a one-replica change is one
   * ClusterLoadAssignment, not a thousand, for every Envoy.
   */
  private responseResources(type: TypeUrl, st: SotwTypeState, d: Desired): SnapshotResource[] {
    const all = [...d.resources.values()];
    if (type !== TYPE.endpoints) return all;
    const held = st.held;
    st.held = d.resources;
    if (!held || st.forceResend) return all;
    return all.filter((r) => held.get(r.name)?.version !== r.version);
  }

  private trySend(type: TypeUrl): void {
    const st = this.state(type);
    const d = this.desired(type);
    if (d.version === '') return; // no snapshot yet
    if (!st.forceResend && d.version === (st.sent?.version ?? st.clientVersion)) return;
    const nonce = this.nextNonce();
    const resources = this.responseResources(type, st, d);
    this.write({
      version_info: d.version,
      resources: resources.map((r) => r.any),
      type_url: type,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.sent = { version: d.version, nonce };
    st.inFlight = true;
    st.forceResend = false;
    if (type === TYPE.cluster) {
      this.lastSentClusters = d.resources;
      // A changed cluster warms until Envoy gets its endpoints again, even if
      // they did not change: answer the next EDS request whatever its version.
      this.state(TYPE.endpoints).forceResend = true;
    }
    this.log.debug({ type: typeName(type), version: d.version, nonce, resources: resources.length }, 'push');
    this.hooks.pushed(this, type, resources.length, 0);
  }
}

function sameNames(current: ReadonlySet<string>, requested: readonly string[]): boolean {
  if (current.size !== requested.length) return false;
  for (const n of requested) if (!current.has(n)) return false;
  return true;
}
