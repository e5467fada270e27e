// State-of-the-world ADS: one response per type carries the whole set the
// client subscribes to. Protocol state lives here and nowhere else.
import { mayRemove, type ResourceType } from './resource-types/resource-type.js';
import { type ResourceSet, resourceSet, type SnapshotResource } from './snapshot.js';
import { type DiscoveryRequest, DiscoveryRequestSchema, type DiscoveryResponse, nackMessage } from './xds-messages.js';
import { type StreamHooks, type TypeState, XdsStream } from './xds-stream.js';

/** What the client should hold of a type: a set, so that its version names exactly these resources. */
type Desired = ResourceSet;

interface SotwTypeState extends TypeState {
  names: ReadonlySet<string>;
  /** Bumped whenever `names` changes (memo key). */
  namesRev: number;
  /** The last response sent. */
  sent: { version: string; nonce: string } | undefined;
  inFlight: boolean;
  /** Version the client says it holds (ACKed, or announced on reconnect). */
  clientVersion: string;
  /** Answer the next request even if nothing changed (a warming resource waits for it). */
  forceResend: boolean;
  /**
   * Types that send only changes: what the client holds after the last
   * response it did not reject (the desired set that response brought it to).
   */
  held: Desired | undefined;
  /** Wildcard types: what the last response left the client holding, for removals that wait. */
  lastSent: ReadonlyMap<string, SnapshotResource>;
  /** The last answer of desired() for a named subscription, and what it was computed from. */
  memo: { set: ResourceSet; namesRev: number; desired: Desired } | undefined;
}

const NOTHING: Desired = { version: '', resources: new Map() };

export class SotwStream extends XdsStream<DiscoveryRequest, SotwTypeState> {
  constructor(
    peer: string,
    hooks: StreamHooks,
    private readonly write: (response: DiscoveryResponse) => void,
  ) {
    super('sotw', peer, hooks);
  }

  protected parse(raw: unknown): DiscoveryRequest {
    return DiscoveryRequestSchema.parse(raw);
  }

  protected newTypeState(): SotwTypeState {
    return {
      requested: false,
      names: new Set(),
      namesRev: 0,
      sent: undefined,
      inFlight: false,
      clientVersion: '',
      forceResend: false,
      held: undefined,
      lastSent: new Map(),
      memo: undefined,
    };
  }

  protected request(type: ResourceType, st: SotwTypeState, req: DiscoveryRequest): boolean {
    if (req.response_nonce !== '') {
      // A request answering an older response: Envoy sends a fresh one for the
      // newest response, so acting on this one would be acting twice.
      if (!st.sent || req.response_nonce !== st.sent.nonce) return false;
      const nack = nackMessage(req.error_detail);
      st.inFlight = false;
      if (nack !== undefined) {
        // What the client holds is no longer known exactly: the next response is complete.
        st.held = undefined;
        this.recordNack(type.url, st.sent.version, nack);
      } else {
        st.clientVersion = req.version_info;
        this.recordAck(type.url, req.version_info);
      }
    } else {
      // First request for this type on this stream; after a control-plane
      // restart it names the version Envoy already holds.
      st.clientVersion = req.version_info;
      if (req.version_info !== '') this.recordHeld(type.url, req.version_info);
    }
    st.requested = true;
    if (!type.wildcard && !sameNames(st.names, req.resource_names)) {
      st.names = this.hooks.names(req.resource_names);
      st.namesRev++;
    }
    return true;
  }

  protected inFlight(st: SotwTypeState): boolean {
    return st.inFlight;
  }

  protected current(type: ResourceType, st: SotwTypeState): boolean {
    return this.desired(type, st).version === st.clientVersion;
  }

  private desired(type: ResourceType, st: SotwTypeState): Desired {
    const set = this.hooks.snapshot()?.get(type.url);
    if (!set) return NOTHING;
    if (type.wildcard) return this.wholeSet(type, st, set);
    const memo = st.memo;
    if (memo && memo.set === set && memo.namesRev === st.namesRev) return memo.desired;
    const desired = namedSubset(st.names, set);
    st.memo = { set, namesRev: st.namesRev, desired };
    return desired;
  }

  /** The snapshot's set, plus what the client still holds whose removal must wait. */
  private wholeSet(type: ResourceType, st: SotwTypeState, set: ResourceSet): Desired {
    if (st.lastSent.size === 0 || st.lastSent === set.resources) return set;
    const removed = [...st.lastSent.values()].filter((r) => !set.resources.has(r.name));
    if (removed.length === 0 || mayRemove(type, this.progress)) return set;
    return resourceSet([...set.resources.values(), ...removed]);
  }

  /**
   * What the response carries: the desired set, or for a type that sends only
   * changes, the desired resources the client does not hold at their current
   * version (all of them for a client that holds nothing known: a new stream,
   * or after a NACK).
   */
  private responseContents(type: ResourceType, st: SotwTypeState, d: Desired): ResourceSet {
    if (!type.sotwSendsOnlyChanges) return d;
    const held = st.held;
    st.held = d;
    if (!held || st.forceResend) return d;
    return changesSince(held, d);
  }

  protected send(type: ResourceType, st: SotwTypeState): void {
    const d = this.desired(type, st);
    if (d.version === '') return; // no snapshot yet
    if (!st.forceResend && d.version === (st.sent?.version ?? st.clientVersion)) return;
    const nonce = this.nextNonce();
    const contents = this.responseContents(type, st, d);
    this.write({
      version_info: d.version,
      contents,
      type_url: type.url,
      nonce,
      control_plane: { identifier: this.hooks.identifier },
    });
    st.sent = { version: d.version, nonce };
    st.inFlight = true;
    st.forceResend = false;
    if (type.wildcard) st.lastSent = d.resources;
    // A response does not say which resources changed, and a changed one warms
    // until what it names arrives again: answer the next request for those
    // whatever its version.
    if (type.references?.resentOnChange) this.state(type.references.type).forceResend = true;
    this.recordPush(type.url, d.version, nonce, contents.resources.size, 0);
  }
}

const changeSets = new WeakMap<ResourceSet, WeakMap<ResourceSet, ResourceSet>>();

/**
 * The resources of `desired` that a client holding `held` lacks or holds at
 * another version. Both are immutable, so the answer is kept per pair: a
 * thousand Envoys that held the last snapshot's endpoints and want this one's
 * compute (and hash) the change once, and get one set, so they share one
 * encoded body (response-encoding.ts).
 */
function changesSince(held: ResourceSet, desired: ResourceSet): ResourceSet {
  let byDesired = changeSets.get(held);
  if (!byDesired) {
    byDesired = new WeakMap();
    changeSets.set(held, byDesired);
  }
  let changes = byDesired.get(desired);
  if (!changes) {
    const list: SnapshotResource[] = [];
    for (const r of desired.resources.values()) if (held.resources.get(r.name)?.version !== r.version) list.push(r);
    changes = resourceSet(list);
    byDesired.set(desired, changes);
  }
  return changes;
}

/**
 * Most Envoys subscribe to every cluster's endpoints: then the answer is the
 * whole set, whose version is already known.
 */
function namedSubset(names: ReadonlySet<string>, set: ResourceSet): Desired {
  let all = names.size >= set.resources.size;
  if (all)
    for (const name of set.resources.keys())
      if (!names.has(name)) {
        all = false;
        break;
      }
  if (all) return set;
  const subset: SnapshotResource[] = [];
  for (const name of names) {
    const r = set.resources.get(name);
    if (r) subset.push(r);
  }
  return resourceSet(subset);
}

function sameNames(current: ReadonlySet<string>, requested: readonly string[]): boolean {
  if (current.size !== requested.length) return false;
  for (const n of requested) if (!current.has(n)) return false;
  return true;
}
