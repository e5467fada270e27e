// Registers one MCP server instance in Consul (tag `mcp`, its meta, an HTTP
// health check), keeps it registered — a restarted Consul agent has forgotten
// it — and deregisters it on shutdown. Used by the adapter.
import { type BackoffPolicy, backoffDelay } from '../backoff.js';
import { urlHost } from '../host-port.js';
import type { Logger } from '../log.js';
import { CONSUL } from '../mesh-contracts.js';
import { ConsulHttp } from './consul-http.js';

const REGISTER_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 10_000, jitter: 0.5 };

export interface RegistrationOptions {
  readonly consulUrl: string;
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly meta?: Record<string, string>;
  /** Extra tags; `mcp` is always added. */
  readonly tags?: readonly string[];
  /** Path of the instance's readiness endpoint, e.g. /readyz. */
  readonly checkPath: string;
  /** The whole check URL instead of http://ADDRESS:PORT + checkPath (an mTLS adapter's plain health port). */
  readonly checkUrl?: string;
  readonly checkInterval?: string;
  readonly deregisterCriticalAfter?: string;
  readonly token?: string;
  readonly logger: Logger;
  /** How often the registration is verified. */
  readonly verifyEveryMs?: number;
  /**
   * The check's status when (re-)registered, until Consul first runs it;
   * Consul's default is critical, which would take a ready instance out of
   * service each time a restarted agent learns of it again.
   */
  readonly initialStatus?: () => 'passing' | 'critical';
}

export class ConsulRegistration {
  private readonly http: ConsulHttp;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  registered = false;
  /** Times the registration was found missing and made again (a Consul restart, say). */
  reRegistrations = 0;

  constructor(private readonly opts: RegistrationOptions) {
    this.http = new ConsulHttp({ url: opts.consulUrl, maxSockets: 2, ...(opts.token ? { token: opts.token } : {}) });
  }

  private body(): object {
    const host = urlHost(this.opts.address);
    return {
      ID: this.opts.id,
      Name: this.opts.name,
      Address: this.opts.address,
      Port: this.opts.port,
      Tags: [...new Set([CONSUL.tag, ...(this.opts.tags ?? [])])],
      Meta: this.opts.meta ?? {},
      Check: {
        CheckID: `mcpmesh:${this.opts.id}`,
        Name: `${this.opts.name} readiness`,
        HTTP: this.opts.checkUrl ?? `http://${host}:${this.opts.port}${this.opts.checkPath}`,
        Interval: this.opts.checkInterval ?? '2s',
        Timeout: '1s',
        DeregisterCriticalServiceAfter: this.opts.deregisterCriticalAfter ?? '1m',
        ...(this.opts.initialStatus ? { Status: this.opts.initialStatus() } : {}),
      },
    };
  }

  /** Registers once; rejects if Consul cannot be reached (the caller decides whether to go on). */
  async start(): Promise<void> {
    await this.register();
    this.schedule(this.opts.verifyEveryMs ?? 5_000);
  }

  private async register(): Promise<void> {
    await this.http.request('PUT', '/v1/agent/service/register', { endpoint: 'register', body: this.body(), timeoutMs: 10_000 });
    if (!this.registered) this.opts.logger.info({ service: this.opts.name, id: this.opts.id }, 'registered in Consul');
    this.registered = true;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.verify(), ms);
    this.timer.unref();
  }

  /** Re-registers when the agent no longer knows the service (restarted, or it was removed). */
  private async verify(): Promise<void> {
    try {
      await this.http.request('GET', `/v1/agent/service/${encodeURIComponent(this.opts.id)}`, { endpoint: 'verify', timeoutMs: 5_000 });
      this.failures = 0;
    } catch (err) {
      if (this.stopped) return;
      try {
        await this.register();
        this.reRegistrations += 1;
        this.opts.logger.warn({ service: this.opts.name, id: this.opts.id, reason: (err as Error).message }, 're-registered in Consul');
        this.failures = 0;
      } catch (again) {
        this.failures += 1;
        this.registered = false;
        if (this.failures === 1)
          this.opts.logger.warn({ err: (again as Error).message }, 'Consul unreachable; will register again when it is back');
        this.schedule(backoffDelay(REGISTER_BACKOFF, this.failures));
        return;
      }
    }
    this.schedule(this.opts.verifyEveryMs ?? 5_000);
  }

  /** Deregisters; idempotent, never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    try {
      await this.http.request('PUT', `/v1/agent/service/deregister/${encodeURIComponent(this.opts.id)}`, {
        endpoint: 'deregister',
        timeoutMs: 5_000,
      });
      this.opts.logger.info({ id: this.opts.id }, 'deregistered from Consul');
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'could not deregister from Consul (its check will expire the service)');
    } finally {
      this.registered = false;
      this.http.close();
    }
  }
}
