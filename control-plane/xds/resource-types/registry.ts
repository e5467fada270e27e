// The resource types this control plane serves, in the order a change reaches
// Envoy: CDS → EDS → LDS → RDS, each type after the ones it points at.
import type { TypeUrl } from '../api/type-urls.js';
import { clusters } from './cluster.js';
import { endpoints } from './endpoints.js';
import { listeners } from './listener.js';
import type { ResourceType, TypeName } from './resource-type.js';
import { routes } from './route.js';

export const RESOURCE_TYPES: readonly ResourceType[] = [clusters, endpoints, listeners, routes];

export const PUSH_ORDER: readonly TypeUrl[] = RESOURCE_TYPES.map((t) => t.url);

const BY_URL = new Map<string, ResourceType>(RESOURCE_TYPES.map((t) => [t.url, t]));

/** The type's description; undefined for a type this control plane does not serve. */
export function resourceType(url: string): ResourceType | undefined {
  return BY_URL.get(url);
}

/** The description of a type this control plane serves. */
export function servedType(url: TypeUrl): ResourceType {
  // Every TypeUrl has its description in RESOURCE_TYPES.
  return BY_URL.get(url)!;
}

export function typeName(url: TypeUrl): TypeName {
  return servedType(url).name;
}
