// The order rules both protocol variants follow (DESIGN.md "xDS rules"):
// CDS → EDS → LDS → RDS; listeners and routes wait until Envoy has the clusters
// they may point at; cluster removals wait until Envoy has the routes that no
// longer point at them.
import { TYPE, type TypeUrl } from './api/type-urls.js';

export const PUSH_ORDER: readonly TypeUrl[] = [TYPE.cluster, TYPE.endpoints, TYPE.listener, TYPE.route];

/** Types whose SotW responses always carry the full set (and delta's legacy wildcard default). */
export function isWildcardType(type: TypeUrl): boolean {
  return type === TYPE.cluster || type === TYPE.listener;
}

export function isServedType(type: string): type is TypeUrl {
  return (PUSH_ORDER as readonly string[]).includes(type);
}

/** What a stream reports about one type for the gating rules. */
export interface TypeProgress {
  readonly requested: boolean;
  readonly inFlight: boolean;
  /** The client holds exactly what the current snapshot wants for this type. */
  readonly current: boolean;
}

/** May a response of `type` go out now, given the other types' progress? */
export function maySend(type: TypeUrl, progress: (t: TypeUrl) => TypeProgress): boolean {
  const cds = progress(TYPE.cluster);
  const lds = progress(TYPE.listener);
  if (type === TYPE.listener) return !cds.inFlight;
  if (type === TYPE.route) return !cds.inFlight && !lds.inFlight;
  return true;
}

/** Cluster removals wait until listeners and routes the client subscribes to are current. */
export function mayRemoveClusters(progress: (t: TypeUrl) => TypeProgress): boolean {
  for (const t of [TYPE.listener, TYPE.route]) {
    const p = progress(t);
    if (p.requested && (p.inFlight || !p.current)) return false;
  }
  return true;
}

export type TypeName = 'clusters' | 'endpoints' | 'listeners' | 'routes';

export function typeName(type: TypeUrl): TypeName {
  switch (type) {
    case TYPE.cluster:
      return 'clusters';
    case TYPE.endpoints:
      return 'endpoints';
    case TYPE.listener:
      return 'listeners';
    case TYPE.route:
      return 'routes';
  }
}
