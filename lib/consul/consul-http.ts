// A small Consul HTTP client: GETs with blocking-query parameters, PUT/DELETE.
// node:http with one bounded keep-alive agent, so that every connection the
// control plane holds to Consul is counted here (Consul allows 200 per client).
import http from 'node:http';
import https from 'node:https';

export interface ConsulResponse<T> {
  readonly body: T;
  /** X-Consul-Index (0 when absent). */
  readonly index: number;
}

export class ConsulHttpError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

export interface ConsulHttpOptions {
  readonly url: string;
  /** Upper bound on sockets to Consul. */
  readonly maxSockets?: number;
  readonly token?: string;
  /** Called after every request (metrics). */
  readonly observe?: (endpoint: string, outcome: 'ok' | 'error', seconds: number) => void;
}

export class ConsulHttp {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly opts: ConsulHttpOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`Consul URL must be http(s): ${opts.url}`);
    const AgentClass = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: opts.maxSockets ?? 8, maxFreeSockets: opts.maxSockets ?? 8 });
  }

  /** Sockets open to Consul right now (busy and idle). */
  openSockets(): number {
    const count = (m: NodeJS.ReadOnlyDict<unknown[]>) => Object.values(m).reduce((n, l) => n + (l?.length ?? 0), 0);
    return count(this.agent.sockets) + count(this.agent.freeSockets);
  }

  close(): void {
    this.agent.destroy();
  }

  request<T>(
    method: 'GET' | 'PUT' | 'DELETE' | 'POST',
    path: string,
    opts: {
      query?: Record<string, string | undefined>;
      body?: unknown;
      signal?: AbortSignal;
      endpoint: string;
      timeoutMs: number;
      notFoundAs?: T;
    },
  ): Promise<ConsulResponse<T>> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const started = performance.now();
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<ConsulResponse<T>>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...(this.opts.token ? { 'x-consul-token': this.opts.token } : {}),
          },
          timeout: opts.timeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            // A KV prefix with no keys answers 404, with an index to block on.
            if (status === 404 && opts.notFoundAs !== undefined) {
              resolve({ body: opts.notFoundAs, index: Number(res.headers['x-consul-index'] ?? 0) || 0 });
              return;
            }
            if (status < 200 || status >= 300) {
              // Consul's 403 names the permission the token lacks (never the token itself).
              const acl = status === 403 ? ' (the ACL token lacks a permission: see docs/security.md)' : '';
              reject(new ConsulHttpError(`Consul ${method} ${url.pathname}: HTTP ${status} ${text.slice(0, 300)}${acl}`, status));
              return;
            }
            let body: unknown = null;
            if (text !== '') {
              try {
                body = JSON.parse(text);
              } catch {
                reject(new ConsulHttpError(`Consul ${method} ${url.pathname}: response is not JSON`, status));
                return;
              }
            }
            const index = Number(res.headers['x-consul-index'] ?? 0);
            resolve({ body: body as T, index: Number.isFinite(index) ? index : 0 });
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(new ConsulHttpError(`Consul ${method} ${url.pathname}: timed out after ${opts.timeoutMs} ms`, undefined)),
      );
      req.on('error', (err) =>
        reject(err instanceof ConsulHttpError ? err : new ConsulHttpError(`Consul ${method} ${url.pathname}: ${err.message}`, undefined)),
      );
      req.end(payload);
    }).then(
      (r) => {
        this.opts.observe?.(opts.endpoint, 'ok', (performance.now() - started) / 1000);
        return r;
      },
      (err: unknown) => {
        this.opts.observe?.(opts.endpoint, 'error', (performance.now() - started) / 1000);
        throw err;
      },
    );
  }
}
