// Learns each server's tools (tools/list on a healthy replica) so that default
// per-tool policies can follow the tools' own annotations. Runs beside the
// data path: a server that cannot be asked keeps the tools last learned.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { urlHost } from '../../lib/host-port.js';
import { type FetchLike, httpsFetch } from '../../lib/https-fetch.js';
import type { Logger } from '../../lib/log.js';
import { scanParamHeaders } from '../../lib/mcp-param-headers.js';
import type { McpProtocol, Replica, ServerSpec, ToolInfo } from '../catalog/model.js';
import type { UpstreamTlsDefaults } from '../envoy/clusters.js';

export interface ToolDiscoveryOptions {
  readonly logger: Logger;
  /** Called when a server's tool list differs from what was known. */
  readonly onTools: (server: string, tools: readonly ToolInfo[]) => void;
  /** How often known servers are asked again; list_changed is not relied on. */
  readonly refreshMs?: number;
  readonly timeoutMs?: number;
  readonly concurrency?: number;
  /** TLS servers are asked with the verification Envoy applies (the files are read here too). */
  readonly upstreamTls?: UpstreamTlsDefaults;
}

type ListTools = (url: string, protocol: McpProtocol, timeoutMs: number, fetch?: FetchLike) => Promise<ToolInfo[]>;

/** The fetch for tools/list on a TLS replica: the same CA, names and client certificate as Envoy's cluster. */
export function replicaFetch(spec: ServerSpec, replica: Replica, defaults: UpstreamTlsDefaults): FetchLike {
  const t = spec.policy.tls ?? {};
  const name = replica.tlsName ?? replica.host;
  const certFile = t.clientCertFile ?? (t.clientKeyFile === undefined ? defaults.clientCertFile : undefined);
  const keyFile = t.clientKeyFile ?? (t.clientCertFile === undefined ? defaults.clientKeyFile : undefined);
  const client = certFile !== undefined && keyFile !== undefined ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : {};
  const servername = t.sni ?? (isIP(name) === 0 ? name : undefined);
  if (t.insecureSkipVerify === true) return httpsFetch({ ...client, insecure: true, ...(servername !== undefined ? { servername } : {}) });
  const caFile = t.caFile ?? defaults.caFile;
  if (caFile === undefined) throw new Error('no CA to verify the server with (policy tls.caFile or --upstream-ca)');
  return httpsFetch({ ...client, ca: readFileSync(caFile), names: t.san ?? [name], ...(servername !== undefined ? { servername } : {}) });
}

const MAX_PAGES = 100;

/** tools/list over Streamable HTTP with the MCP SDK's own client, all pages. */
export const listToolsOverHttp: ListTools = async (url, protocol, timeoutMs, fetch) => {
  const client = new Client(
    { name: 'mcpmesh-control-plane', version: '0.1.0' },
    {
      versionNegotiation: { mode: protocol === '2026' ? { pin: '2026-07-28' } : protocol === '2025' ? 'legacy' : 'auto' },
    },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), fetch ? { fetch } : {});
  try {
    await client.connect(transport, { timeout: timeoutMs });
    const tools: ToolInfo[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await client.listTools(cursor ? { cursor } : undefined, { timeout: timeoutMs });
      for (const t of res.tools) {
        const scan = scanParamHeaders(t.inputSchema);
        tools.push({
          name: t.name,
          readOnly: t.annotations?.readOnlyHint === true,
          idempotent: t.annotations?.idempotentHint === true,
          // Routes may use a tool's Mcp-Param headers only when its declarations are valid.
          ...(scan.kind === 'ok' && scan.headers.length > 0 ? { params: scan.headers } : {}),
        });
      }
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    return tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } finally {
    await client.close().catch(() => undefined);
  }
};

function sameTools(a: readonly ToolInfo[] | undefined, b: readonly ToolInfo[]): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export class ToolDiscovery {
  private readonly known = new Map<string, ToolInfo[]>();
  private servers = new Map<string, ServerSpec>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly opts: ToolDiscoveryOptions,
    private readonly listTools: ListTools = listToolsOverHttp,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      for (const name of this.servers.keys()) this.enqueue(name);
    }, this.opts.refreshMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  tools(): ReadonlyMap<string, readonly ToolInfo[]> {
    return this.known;
  }

  /** New source state: ask new servers, and servers whose replicas changed, at once. */
  update(servers: ReadonlyMap<string, ServerSpec>): void {
    const before = this.servers;
    this.servers = new Map(servers);
    for (const [name, spec] of servers) {
      const old = before.get(name);
      if (old === spec && this.known.has(name)) continue;
      if (
        !old ||
        !this.known.has(name) ||
        JSON.stringify(old.replicas.map((r) => r.id)) !== JSON.stringify(spec.replicas.map((r) => r.id))
      ) {
        this.enqueue(name);
      }
    }
    for (const name of this.known.keys()) if (!servers.has(name)) this.known.delete(name);
  }

  private readonly idleWaiters = new Set<() => void>();

  /** Resolves once every queued discovery has finished, or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  private enqueue(name: string): void {
    if (this.stopped || this.queued.has(name)) return;
    this.queued.add(name);
    this.queue.push(name);
    this.drain();
  }

  private drain(): void {
    while (this.running < (this.opts.concurrency ?? 4) && this.queue.length > 0) {
      const name = this.queue.shift()!;
      this.queued.delete(name);
      this.running++;
      void this.discover(name).finally(() => {
        this.running--;
        this.drain();
        if (this.running === 0 && this.queue.length === 0) for (const w of [...this.idleWaiters]) w();
      });
    }
  }

  private async discover(name: string): Promise<void> {
    const spec = this.servers.get(name);
    if (!spec) return;
    const candidates = spec.replicas.filter((r) => r.health === 'healthy' || r.health === 'degraded');
    for (const replica of candidates) {
      const host = urlHost(replica.host);
      const url = `${spec.tls ? 'https' : 'http'}://${host}:${replica.port}${spec.path}`;
      try {
        const fetch = spec.tls ? replicaFetch(spec, replica, this.opts.upstreamTls ?? {}) : undefined;
        const tools = await this.listTools(url, spec.protocol, this.opts.timeoutMs ?? 5_000, fetch);
        if (this.stopped || !this.servers.has(name)) return;
        if (!sameTools(this.known.get(name), tools)) {
          this.known.set(name, tools);
          this.opts.logger.info({ server: name, replica: replica.id, tools: tools.length }, 'learned tools');
          this.opts.onTools(name, tools);
        }
        return;
      } catch (err) {
        this.opts.logger.warn(
          { server: name, replica: replica.id, err: (err as Error).message },
          'tools/list failed; trying another replica',
        );
      }
    }
  }
}
