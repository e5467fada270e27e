// What sets one resource type apart in the xDS protocol. The streams, the push
// order and the snapshot consistency check read these descriptions instead of
// asking which type they hold; each type is described in its own module.
import type { PackedAny } from '../api/envoy-protos.js';
import type { TypeUrl } from '../api/type-urls.js';

/** How the admin API, the metrics and the logs name a type. */
export type TypeName = 'clusters' | 'endpoints' | 'listeners' | 'routes';

export interface ResourceType {
  readonly url: TypeUrl;
  readonly name: TypeName;
  /**
   * Envoy holds every resource of the type: a SotW request names none and each
   * response carries the whole set (a resource left out is removed); a delta
   * first request naming nothing is the legacy wildcard subscription.
   */
  readonly wildcard: boolean;
  /**
   * A response of this type waits while one of these types has a response in
   * flight: what this type points at must reach Envoy first.
   */
  readonly sendsAfter: readonly TypeUrl[];
  /**
   * A removal of this type waits until these types (where subscribed) are
   * current: until then they may still point at the removed resource.
   */
  readonly removalsWaitFor: readonly TypeUrl[];
  /**
   * A SotW response carries only the resources the client does not hold at
   * their current version: Envoy keeps those a response of a non-wildcard type
   * leaves out.
   */
  readonly sotwSendsOnlyChanges: boolean;
  readonly references?: References;
}

/** The resources of another type that each resource of this type names. */
export interface References {
  readonly type: TypeUrl;
  names(resource: PackedAny): readonly string[];
  /**
   * Envoy warms a changed resource until the resources it names arrive again,
   * changed or not: they are sent again.
   */
  readonly resentOnChange: boolean;
}

/** What a stream reports about one type for the ordering rules. */
export interface TypeProgress {
  readonly requested: boolean;
  readonly inFlight: boolean;
  /** The client holds exactly what the current snapshot wants for this type. */
  readonly current: boolean;
}

export type Progress = (type: TypeUrl) => TypeProgress;

/** May a response of `type` go out now, given the other types' progress? */
export function maySend(type: ResourceType, progress: Progress): boolean {
  return type.sendsAfter.every((t) => !progress(t).inFlight);
}

/** May a response of `type` remove resources now? */
export function mayRemove(type: ResourceType, progress: Progress): boolean {
  return type.removalsWaitFor.every((t) => {
    const p = progress(t);
    return !p.requested || (!p.inFlight && p.current);
  });
}

/**
 * `names` remembered per encoded resource: a snapshot hands out the same object
 * for a resource that did not change, so each one is decoded once.
 */
export function namesByIdentity(names: (resource: PackedAny) => readonly string[]): (resource: PackedAny) => readonly string[] {
  const seen = new WeakMap<PackedAny, readonly string[]>();
  return (resource) => {
    let out = seen.get(resource);
    if (out === undefined) {
      out = names(resource);
      seen.set(resource, out);
    }
    return out;
  };
}
