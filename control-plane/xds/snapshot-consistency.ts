// A snapshot must hold together: a resource that exists only to be named (a
// ClusterLoadAssignment, a route configuration) is named by a resource of the
// type whose description says it names them (a cluster, a listener). Envoy
// would take a stray one without complaint; a snapshot with one says the
// translation lost track of something, so it is not served.
import type { TypeUrl } from './api/type-urls.js';
import { RESOURCE_TYPES, typeName } from './resource-types/registry.js';
import type { References } from './resource-types/resource-type.js';
import type { ResourceSet, Snapshot } from './snapshot.js';

/** How many unnamed resources a message lists per type before it counts the rest. */
const LISTED = 5;

export class InconsistentSnapshotError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`inconsistent snapshot: ${problems.join('; ')}`);
    this.name = 'InconsistentSnapshotError';
  }
}

/** What is wrong with the snapshot; empty when it holds together. */
export function consistencyProblems(snapshot: Snapshot): string[] {
  const problems: string[] = [];
  for (const naming of RESOURCE_TYPES) {
    const refs = naming.references;
    if (!refs) continue;
    const named = namedBy(snapshot.get(naming.url), refs);
    const unnamed: string[] = [];
    for (const name of snapshot.get(refs.type)?.resources.keys() ?? []) if (!named.has(name)) unnamed.push(name);
    if (unnamed.length > 0) problems.push(describe(refs.type, unnamed, naming.name));
  }
  return problems;
}

/**
 * A snapshot hands out an unchanged set as the same object, and clusters change
 * far less often than endpoints: what a set names is gathered once per set.
 */
const namedBySet = new WeakMap<ResourceSet, ReadonlySet<string>>();

function namedBy(set: ResourceSet | undefined, refs: References): ReadonlySet<string> {
  if (!set) return new Set();
  const known = namedBySet.get(set);
  if (known) return known;
  const named = new Set<string>();
  for (const r of set.resources.values()) for (const name of refs.names(r.any)) named.add(name);
  namedBySet.set(set, named);
  return named;
}

function describe(type: TypeUrl, unnamed: readonly string[], by: string): string {
  const listed = unnamed
    .slice(0, LISTED)
    .map((n) => JSON.stringify(n))
    .join(', ');
  const more = unnamed.length > LISTED ? ` and ${unnamed.length - LISTED} more` : '';
  return `${typeName(type)} not named by any of the ${by}: ${listed}${more}`;
}

/** Throws an InconsistentSnapshotError for a snapshot that does not hold together. */
export function assertConsistent(snapshot: Snapshot): void {
  const problems = consistencyProblems(snapshot);
  if (problems.length > 0) throw new InconsistentSnapshotError(problems);
}
