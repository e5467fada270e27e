// Consul's answers → what the catalog is made of: which services are MCP
// servers, which of them a health change concerns, each one's ServerSpec, and
// the policies in KV. No I/O: resolving an instance's host is handed in, so
// all of it can be checked without a Consul.
import { CONSUL, SERVER_NAME, SERVER_NAME_RULE } from '../../lib/mesh-contracts.js';
import { LocalityNameSchema } from '../catalog/locality.js';
import { type MeshSettings, MeshSettingsSchema } from '../catalog/mesh-schema.js';
import type { Replica, ReplicaHealth, ReplicaLocality, ServerSpec } from '../catalog/model.js';
import { type Policy, parsePolicy } from '../catalog/policy-schema.js';
import {
  CatalogServicesSchema,
  HealthServiceSchema,
  HealthStateSchema,
  KvListSchema,
  McpMetaSchema,
  type ServiceEntry,
  ServiceEntrySchema,
} from './consul-schema.js';

export type ResolveHost = (host: string) => Promise<string>;

/** The services tagged `mcp`, from /v1/catalog/services. */
export function mcpServiceNames(body: unknown): Set<string> {
  const services = CatalogServicesSchema.parse(body);
  return new Set(
    Object.entries(services)
      .filter(([, tags]) => tags.includes(CONSUL.tag))
      .map(([name]) => name),
  );
}

/**
 * The checks of /v1/health/state/any, one fingerprint per service and one per
 * node (node-level checks): a service whose fingerprint changed is read again,
 * the others are not.
 */
export interface HealthPrints {
  readonly services: ReadonlyMap<string, string>;
  readonly nodes: ReadonlyMap<string, string>;
}

export const NO_HEALTH: HealthPrints = { services: new Map(), nodes: new Map() };

export function healthPrints(body: unknown): HealthPrints {
  const perService = new Map<string, string[]>();
  const perNode = new Map<string, string[]>();
  for (const c of HealthStateSchema.parse(body)) {
    const map = c.ServiceName ? perService : perNode;
    const key = c.ServiceName || c.Node;
    const list = map.get(key) ?? [];
    list.push(`${c.CheckID}|${c.ServiceID}|${c.Status}|${c.ModifyIndex}`);
    map.set(key, list);
  }
  const prints = (m: Map<string, string[]>) => new Map([...m].map(([k, v]) => [k, v.sort().join(',')]));
  return { services: prints(perService), nodes: prints(perNode) };
}

/** The MCP services to read again after the health view went from `before` to `after`; `servers` says which nodes each known one runs on. */
export function changedByHealth(
  before: HealthPrints,
  after: HealthPrints,
  mcp: ReadonlySet<string>,
  servers: ReadonlyMap<string, { readonly nodes: ReadonlySet<string> }>,
): Set<string> {
  const changed = new Set<string>();
  for (const name of mcp) if (after.services.get(name) !== before.services.get(name)) changed.add(name);
  const onNode = (node: string) => {
    for (const [name, known] of servers) if (known.nodes.has(node)) changed.add(name);
  };
  for (const [node, print] of after.nodes) if (before.nodes.get(node) !== print) onNode(node);
  for (const node of before.nodes.keys()) if (!after.nodes.has(node)) onNode(node);
  return changed;
}

/** One key under the policy prefix: the server's policy, or why it was rejected. */
export type PolicyEntry = { readonly server: string; readonly policy: Policy } | { readonly server: string; readonly error: string };

/** The policy prefix's keys (recurse) → one entry per server; keys below a server's (with a `/`) are not policies. */
export function policyEntries(body: unknown): PolicyEntry[] {
  const out: PolicyEntry[] = [];
  for (const e of KvListSchema.parse(body)) {
    const server = decodeURIComponent(e.Key.slice(CONSUL.policyPrefix.length));
    if (!server || server.includes('/') || e.Key === CONSUL.meshKey) continue;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(e.Value ?? '', 'base64').toString('utf8'));
    } catch {
      out.push({ server, error: `${e.Key}: not JSON` });
      continue;
    }
    const parsed = parsePolicy(json, 'policy');
    out.push(parsed.ok ? { server, policy: parsed.policy } : { server, error: `${e.Key}: ${parsed.errors.join('; ')}` });
  }
  return out;
}

/** The mesh-wide settings key among the policy prefix's keys: absent, its settings, or why it was rejected. */
export function meshEntry(body: unknown): { readonly settings: MeshSettings | undefined } | { readonly error: string } {
  const e = KvListSchema.parse(body).find((x) => x.Key === CONSUL.meshKey);
  if (e === undefined) return { settings: undefined };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(e.Value ?? '', 'base64').toString('utf8'));
  } catch {
    return { error: `${e.Key}: not JSON` };
  }
  const parsed = MeshSettingsSchema.safeParse(json);
  if (!parsed.success)
    return { error: `${e.Key}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`).join('; ')}` };
  return { settings: parsed.data };
}

/** A server as read from /v1/health/service/<name> (its policy is added on delivery). */
export interface TranslatedService {
  readonly spec: ServerSpec;
  /** Node of each replica: node-level checks affect them. */
  readonly nodes: ReadonlySet<string>;
  /** Checks of the instances' own: with none, a change shows in the service list only. */
  readonly serviceChecks: number;
}

/**
 * The instances of one service → its ServerSpec; throws an Error naming the
 * instance and the field when the service cannot be served as it is.
 * `warning` is what the server's policy says a warning check means.
 */
export async function translateService(
  name: string,
  body: unknown,
  warning: Policy['warning'],
  resolve: ResolveHost,
  datacenter?: string,
): Promise<TranslatedService> {
  const raw = HealthServiceSchema.parse(body);
  if (!SERVER_NAME.test(name)) throw new Error(`service name "${name}" is not a valid MCP server name (${SERVER_NAME_RULE})`);
  const entries: ServiceEntry[] = raw.map((e, i) => {
    const r = ServiceEntrySchema.safeParse(e);
    if (!r.success) throw new Error(`instance ${i}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    return r.data;
  });
  let meta: ReturnType<typeof McpMetaSchema.parse> | undefined;
  const replicas: Replica[] = [];
  const nodes = new Set<string>();
  let serviceChecks = 0;
  for (const e of entries.filter((x) => (x.Service.Tags ?? []).includes(CONSUL.tag))) {
    const m = McpMetaSchema.safeParse(e.Service.Meta ?? {});
    if (!m.success) throw new Error(`instance ${e.Service.ID}: ${m.error.issues.map((x) => x.message).join('; ')}`);
    if (meta && (meta.mcp_path !== m.data.mcp_path || meta.mcp_tls !== m.data.mcp_tls)) {
      throw new Error(`instance ${e.Service.ID}: mcp_path/mcp_tls differ between instances of one service`);
    }
    meta ??= m.data;
    nodes.add(e.Node.Node);
    const checks = e.Checks ?? [];
    serviceChecks += checks.filter((c) => c.ServiceID === e.Service.ID).length;
    const address = e.Service.Address || e.Node.Address;
    let host: string;
    try {
      host = await resolve(address);
    } catch (err) {
      throw new Error(`instance ${e.Service.ID}: cannot resolve ${address}: ${(err as Error).message}`);
    }
    if (e.Service.Port < 1 || e.Service.Port > 65535) throw new Error(`instance ${e.Service.ID}: port ${e.Service.Port} is not a TCP port`);
    replicas.push({
      id: e.Service.ID,
      host,
      port: e.Service.Port,
      health: replicaHealth(checks, warning),
      weight: Math.min(128, Math.max(1, e.Service.Weights?.Passing ?? 1)),
      ...(m.data.mcp_tls === 'true' ? { tlsName: address } : {}),
      ...replicaLocality(e, datacenter),
    });
  }
  return {
    spec: {
      name,
      path: meta?.mcp_path ?? '/mcp',
      protocol: meta?.mcp_protocol ?? 'auto',
      tls: meta?.mcp_tls === 'true',
      replicas,
      policy: {},
      adapter: meta?.mcpmesh_adapter === 'true',
    },
    nodes,
    serviceChecks,
  };
}

/**
 * The zone from the instance's meta `mcp_zone`, else its node's; the
 * datacenter only when the source reads several (one datacenter needs no
 * priorities).
 */
function replicaLocality(e: ServiceEntry, datacenter: string | undefined): { locality?: ReplicaLocality } {
  const key = CONSUL.meta.zone;
  const raw = e.Service.Meta?.[key] ?? e.Node.Meta?.[key];
  let zone: string | undefined;
  if (raw !== undefined && raw !== '') {
    const z = LocalityNameSchema.safeParse(raw);
    if (!z.success) throw new Error(`instance ${e.Service.ID}: ${key} "${raw}": ${z.error.issues.map((i) => i.message).join('; ')}`);
    zone = z.data;
  }
  if (zone === undefined && datacenter === undefined) return {};
  return { locality: { ...(datacenter !== undefined ? { datacenter } : {}), ...(zone !== undefined ? { zone } : {}) } };
}

/** passing → healthy; warning → healthy or degraded by policy; critical or maintenance → no traffic. */
export function replicaHealth(
  checks: readonly { readonly CheckID: string; readonly Status: string }[],
  warning: Policy['warning'],
): ReplicaHealth {
  if (
    checks.some(
      (c) =>
        c.Status === 'critical' ||
        c.Status === 'maintenance' ||
        c.CheckID === '_node_maintenance' ||
        c.CheckID.startsWith('_service_maintenance:'),
    )
  ) {
    return 'unhealthy';
  }
  if (checks.some((c) => c.Status === 'warning')) return warning === 'degraded' ? 'degraded' : 'healthy';
  return 'healthy';
}
