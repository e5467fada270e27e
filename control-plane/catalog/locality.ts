// Where replicas run, and which the mesh prefers: its own datacenter first,
// then the others in the order given; within a datacenter, Envoy's own zone
// (zone-aware routing). Pure.
import { z } from 'zod';
import type { Replica } from './model.js';

/** Datacenter and zone names: Consul's datacenter rule, and what Envoy's locality accepts as is. */
export const LocalityNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, '1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)');

/** A group of a server's replicas Envoy balances as one locality. */
export interface LocalityGroup {
  readonly datacenter: string | undefined;
  readonly zone: string | undefined;
  /** 0 for the local datacenter (and replicas that name none), then 1, 2… in order of preference. */
  readonly priority: number;
  readonly replicas: readonly Replica[];
}

/**
 * `datacenters` in order of preference, the local one first. A datacenter not
 * in the list comes after every listed one (sorted by name), so a replica of
 * an unknown datacenter never takes traffic from a known one.
 */
export function datacenterPriorities(datacenters: readonly string[], replicas: readonly Replica[]): Map<string | undefined, number> {
  const named = replicas.map((r) => r.locality?.datacenter).filter((dc): dc is string => dc !== undefined);
  const order = [...new Set([...datacenters, ...[...new Set(named)].filter((dc) => !datacenters.includes(dc)).sort()])];
  // A replica that names no datacenter is in the local one.
  const rank = (dc: string | undefined) => (dc === undefined ? 0 : order.indexOf(dc));
  // Envoy wants priorities dense from 0: number only the datacenters that have replicas.
  const used = [...new Set(replicas.map((r) => rank(r.locality?.datacenter)))].sort((a, b) => a - b);
  return new Map(replicas.map((r) => [r.locality?.datacenter, used.indexOf(rank(r.locality?.datacenter))]));
}

/** The replicas by (datacenter, zone), ordered by priority, then datacenter, then zone. */
export function localityGroups(datacenters: readonly string[], replicas: readonly Replica[]): LocalityGroup[] {
  const priorities = datacenterPriorities(datacenters, replicas);
  const groups = new Map<string, { datacenter: string | undefined; zone: string | undefined; replicas: Replica[] }>();
  for (const r of replicas) {
    const dc = r.locality?.datacenter;
    const zone = r.locality?.zone;
    const key = JSON.stringify([dc ?? null, zone ?? null]);
    let g = groups.get(key);
    if (!g) {
      g = { datacenter: dc, zone, replicas: [] };
      groups.set(key, g);
    }
    g.replicas.push(r);
  }
  const cmp = (a: string | undefined, b: string | undefined) => (a ?? '').localeCompare(b ?? '');
  return [...groups.values()]
    .map((g) => ({ ...g, priority: priorities.get(g.datacenter) ?? 0 }))
    .sort((a, b) => a.priority - b.priority || cmp(a.datacenter, b.datacenter) || cmp(a.zone, b.zone));
}
