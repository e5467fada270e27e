// State-of-the-world ADS: one response per type carries the whole set the
// client subscribes to. Protocol state lives here and nowhere else.
import { resourceSet, type SnapshotResource } from '../envoy/snapshot.js';
import { TYPE, type TypeUrl } from './envoy-protos.js';
import { isServedType, isWildcardType, mayRemoveClusters, maySend, PUSH_ORDER, typeName, type TypeProgress } from './push-order.js';
import { DiscoveryRequestSchema, nackMessage, type DiscoveryResponse } from './xds-messages.js';
import { XdsStream, type StreamHooks } from './xds-stream.js';

interface SotwTypeState {
  requested: boolean;
  names: Set<string>;
  /** The last response sent. */
  sent: { version: string; nonce: string; names: ReadonlySet<string> } | undefined;
  inFlight: boolean;
  /** Version the client says it holds (ACKed, or announced on reconnect). */
  clientVersion: string;
  /** Answer the next request even if nothing changed (cluster warming needs its endpoints). */
  forceResend: boolean;
}

interface Desired {
  readonly version: string;
  readonly resources: readonly SnapshotResource[];
}

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
      st = { requested: false, names: new Set(), sent: undefined, inFlight: false, clientVersion: '', forceResend: false };
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
      if (nack !== undefined) this.recordNack(type, st.sent.version, nack);
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
    if (!isWildcardType(type)) st.names = new Set(req.resource_names);
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

  private desired(type: TypeUrl): Desired {
    const set = this.hooks.snapshot()?.get(type);
    const st = this.state(type);
    if (!set) return { version: '', resources: [] };
    if (type === TYPE.cluster) {
      const held = this.heldClusterRemovals(set.resources);
      if (held.length === 0) return { version: set.version, resources: [...set.resources.values()] };
      const merged = resourceSet([...set.resources.values(), ...held]);
      return { version: merged.version, resources: [...merged.resources.values()] };
    }
    if (isWildcardType(type)) return { version: set.version, resources: [...set.resources.values()] };
    const subset: SnapshotResource[] = [];
    for (const name of st.names) {
      const r = set.resources.get(name);
      if (r) subset.push(r);
    }
    const picked = resourceSet(subset);
    return { version: picked.version, resources: [...picked.resources.values()] };
  }

  /** Clusters the client still has that the snapshot dropped, kept until routes stop using them. */
  private lastSentClusters = new Map<string, SnapshotResource>();

  private heldClusterRemovals(current: ReadonlyMap<string, SnapshotResource>): SnapshotResource[] {
    if (this.lastSentClusters.size === 0) return [];
    const removed = [...this.lastSentClusters.values()].filter((r) => !current.has(r.name));
    if (removed.length === 0) return [];
    return mayRemoveClusters((t) => this.progress(t)) ? [] : removed;
  }

  private trySend(type: TypeUrl): void {
    const st = this.state(type);
    const d = this.desired(type);
    if (d.version === '') return; // no snapshot yet
    if (!st.forceResend && d.version === (st.sent?.version ?? st.clientVersion)) return;
    const nonce = this.nextNonce();
    this.write({
      version_info: d.version,
      resources: d.resources.map((r) => r.any),
      type_url: type,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.sent = { version: d.version, nonce, names: new Set(d.resources.map((r) => r.name)) };
    st.inFlight = true;
    st.forceResend = false;
    if (type === TYPE.cluster) {
      this.lastSentClusters = new Map(d.resources.map((r) => [r.name, r]));
      // A changed cluster warms until Envoy gets its endpoints again, even if
      // they did not change: answer the next EDS request whatever its version.
      this.state(TYPE.endpoints).forceResend = true;
    }
    this.log.debug({ type: typeName(type), version: d.version, nonce, resources: d.resources.length }, 'push');
    this.hooks.pushed(this, type, d.resources.length, 0);
  }
}
