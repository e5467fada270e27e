// Reading mcpmesh.yaml: YAML → validated FileConfig → SourceState. Every error
// names the file and the field, so an operator can fix it without guessing.
import { isIP } from 'node:net';
import { deepEqual } from '../../lib/deep-equal.js';
import { DEFAULT_ADAPTER_BASE_PORT } from '../../lib/mesh-contracts.js';
import { resolveHost } from '../../lib/resolve-host.js';
import type { Replica, ServerSpec, SourceState } from '../catalog/model.js';
import { describeIssues } from '../catalog/policy-schema.js';
import {
  duplicateNames,
  type FileConfig,
  FileConfigSchema,
  FileConfigShellSchema,
  type FileServer,
  FileServerSchema,
} from './file-config-schema.js';
import { IncrementalYamlParser } from './incremental-yaml.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** One-off read of a whole file (the CLI, tests); the file source keeps a FileConfigReader. */
export function parseConfigText(text: string, file: string): FileConfig {
  return new FileConfigReader(file).validate(text);
}

/** The ports `mcpmesh up` runs local servers on (stdio adapters, `run` processes), in file order. */
export function localPorts(config: FileConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let next = DEFAULT_ADAPTER_BASE_PORT;
  for (const s of config.servers) {
    const local = s.stdio ?? s.run;
    if (!local) continue;
    const count = local.replicas ?? 1;
    const first = local.port ?? next;
    const ports = Array.from({ length: count }, (_, i) => first + i);
    next = Math.max(next, first + count);
    out.set(s.name, ports);
  }
  return out;
}

type Resolve = (host: string) => Promise<string>;

async function httpServer(s: FileServer, index: number, resolve: Resolve): Promise<ServerSpec> {
  const entries = (s.replicas ?? []).map((r) => (typeof r === 'string' ? { url: r } : r));
  const urls = entries.map((e) => new URL(e.url));
  const path = urls[0]!.pathname;
  const tls = urls[0]!.protocol === 'https:';
  const problems: string[] = [];
  urls.forEach((u, i) => {
    if (u.pathname !== path)
      problems.push(`servers.${index}.replicas.${i}: path ${u.pathname} differs from ${path}; all replicas of a server serve one MCP path`);
    if ((u.protocol === 'https:') !== tls) problems.push(`servers.${index}.replicas.${i}: mixes http and https replicas`);
  });
  const seen = new Set<string>();
  const replicas: Replica[] = [];
  for (const [i, e] of entries.entries()) {
    const u = urls[i]!;
    const port = u.port ? Number(u.port) : tls ? 443 : 80;
    const id = `${u.hostname}:${port}`;
    if (seen.has(id)) {
      problems.push(`servers.${index}.replicas.${i}: duplicate replica ${id}`);
      continue;
    }
    seen.add(id);
    let host: string;
    try {
      host = await resolve(u.hostname);
    } catch (err) {
      problems.push(`servers.${index}.replicas.${i}: cannot resolve ${u.hostname}: ${(err as Error).message}`);
      continue;
    }
    replicas.push({
      id,
      host,
      port,
      health: e.health ?? 'healthy',
      weight: e.weight ?? 1,
      ...(tls ? { tlsName: u.hostname.replace(/^\[(.*)\]$/, '$1') } : {}),
      ...locality(e),
    });
  }
  if (problems.length > 0) throw new ConfigError('', problems);
  return { name: s.name, path, protocol: s.protocol ?? 'auto', tls, replicas, policy: s.policy ?? {} };
}

/** `adapterTls`: the file's `tls.adapters`; the adapters serve mTLS, verified by their IP SAN (127.0.0.1). */
function localServer(s: FileServer, ports: readonly number[], adapterTls: boolean): ServerSpec {
  const policy = s.policy ?? {};
  if (s.run) {
    return {
      name: s.name,
      path: s.run.path ?? '/mcp',
      protocol: s.protocol ?? 'auto',
      tls: false,
      replicas: ports.map((port) => ({ id: `127.0.0.1:${port}`, host: '127.0.0.1', port, health: 'healthy', weight: 1 })),
      policy,
    };
  }
  return {
    name: s.name,
    path: '/mcp',
    protocol: s.protocol ?? 'auto',
    tls: adapterTls,
    replicas: ports.map((port) => ({
      id: `127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      health: 'healthy',
      weight: 1,
      ...(adapterTls ? { tlsName: '127.0.0.1' } : {}),
    })),
    // Adapters say on /readyz whether a process is ready; check it unless told otherwise.
    policy: { ...policy, healthCheck: { path: '/readyz', ...policy.healthCheck } },
    adapter: true,
  };
}

export function toSourceState(config: FileConfig, file: string, resolve: Resolve = resolveHost): Promise<SourceState> {
  return new FileConfigReader(file, resolve).translate(config);
}

interface KnownServer {
  /** The validated entry the spec was made from. */
  readonly entry: FileServer;
  readonly spec: ServerSpec;
  /** Made from that entry alone: no host names to resolve again, no ports that follow file order. */
  readonly fromEntryAlone: boolean;
}

/**
 * Reads successive versions of one mcpmesh.yaml. What each server entry gave
 * last time is remembered, so an edit to one server of a thousand validates and
 * translates one, and every unchanged server keeps its ServerSpec object: the
 * catalog and snapshot builders then skip it by identity.
 */
export class FileConfigReader {
  /** Raw entry (as parsed from YAML) → validated entry, by server name, from the last validation. */
  private entries = new Map<string, { readonly raw: unknown; readonly entry: FileServer }>();
  private servers = new Map<string, KnownServer>();
  private readonly yaml: IncrementalYamlParser;

  constructor(
    private readonly file: string,
    private readonly resolve: Resolve = resolveHost,
  ) {
    this.yaml = new IncrementalYamlParser(file);
  }

  /** The new state, or a ConfigError naming every problem (then unchanged entries are still compared with the last good read). */
  async read(text: string): Promise<SourceState> {
    const config = this.validate(text);
    return this.translate(config);
  }

  /** The YAML parse and the validation, each reusing what it did for unchanged server entries. */
  validate(text: string): FileConfig {
    let raw: unknown;
    try {
      raw = this.yaml.parse(text);
    } catch (err) {
      throw new ConfigError(this.file, [(err as Error).message.split('\n')[0] ?? String(err)]);
    }
    const config = this.validateByEntry(raw ?? {});
    if (config) return config;
    // Something is wrong: the whole-file schema names every problem, in file order.
    const result = FileConfigSchema.safeParse(raw ?? {});
    if (!result.success) throw new ConfigError(this.file, describeIssues(result.error));
    return result.data;
  }

  /** The file checked entry by entry, reusing the entries seen before; undefined on any problem. */
  private validateByEntry(raw: unknown): FileConfig | undefined {
    const shell = FileConfigShellSchema.safeParse(raw);
    if (!shell.success) return undefined;
    const servers: FileServer[] = [];
    for (const item of shell.data.servers) {
      const name = typeof item === 'object' && item !== null ? (item as { name?: unknown }).name : undefined;
      const known = typeof name === 'string' ? this.entries.get(name) : undefined;
      if (known && deepEqual(known.raw, item)) {
        servers.push(known.entry);
        continue;
      }
      const result = FileServerSchema.safeParse(item);
      if (!result.success) return undefined;
      servers.push(result.data);
    }
    if (duplicateNames(servers).length > 0) return undefined;
    // Validation depends on the entry alone, so what it found holds whatever happens next.
    this.entries = new Map(servers.map((entry, i) => [entry.name, { raw: shell.data.servers[i], entry }]));
    return { ...shell.data, servers };
  }

  async translate(config: FileConfig): Promise<SourceState> {
    const ports = localPorts(config);
    const next = new Map<string, KnownServer>();
    const problems: string[] = [];
    for (const [i, entry] of config.servers.entries()) {
      const known = this.servers.get(entry.name);
      if (known?.entry === entry && known.fromEntryAlone) {
        next.set(entry.name, known);
        continue;
      }
      try {
        const local = entry.stdio !== undefined || entry.run !== undefined;
        const made = local
          ? localServer(entry, ports.get(entry.name) ?? [], config.tls?.adapters === true)
          : await httpServer(entry, i, this.resolve);
        const spec = known && deepEqual(known.spec, made) ? known.spec : made;
        next.set(entry.name, { entry, spec, fromEntryAlone: !local && spec.replicas.every((r) => isIpLiteral(r.id)) });
      } catch (err) {
        if (err instanceof ConfigError) problems.push(...err.problems);
        else throw err;
      }
    }
    if (problems.length > 0) throw new ConfigError(this.file, problems);
    this.servers = next;
    const servers = new Map([...next].map(([name, k]) => [name, k.spec]));
    const datacenters = config.datacenter !== undefined ? { datacenters: [config.datacenter] } : {};
    if (config.tracing === undefined && config.accessLog === undefined && config.auth === undefined && config.rateLimit === undefined)
      return { servers, ...datacenters };
    return {
      servers,
      ...datacenters,
      mesh: {
        ...(config.tracing ? { tracing: config.tracing } : {}),
        ...(config.accessLog ? { accessLog: config.accessLog } : {}),
        ...(config.auth ? { auth: config.auth } : {}),
        ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
      },
    };
  }
}

function locality(e: { readonly zone?: string; readonly datacenter?: string }): Pick<Replica, 'locality'> {
  if (e.zone === undefined && e.datacenter === undefined) return {};
  return {
    locality: { ...(e.datacenter !== undefined ? { datacenter: e.datacenter } : {}), ...(e.zone !== undefined ? { zone: e.zone } : {}) },
  };
}

/** Whether a replica id (`host:port`, as written in the URL) names its host by address: nothing to resolve. */
function isIpLiteral(id: string): boolean {
  const host = id.slice(0, id.lastIndexOf(':'));
  return isIP(host.startsWith('[') ? host.slice(1, -1) : host) !== 0;
}
