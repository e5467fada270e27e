// What the adapter tells Consul about itself: service name = server name, an
// address Envoy can reach (an IP: EDS takes no host names), the MCP path and
// "auto" protocol (both generations on one path) as meta, and /readyz as the
// health check, so Consul — and through it Envoy — stops sending traffic to a
// draining or process-less adapter.

import { hostname } from 'node:os';
import { ConsulRegistration } from '../lib/consul/registration.js';
import { urlHost } from '../lib/host-port.js';
import type { Logger } from '../lib/log.js';
import { CONSUL } from '../lib/mesh-contracts.js';
import { resolveHost } from '../lib/resolve-host.js';

export interface SelfRegistrationOptions {
  readonly consulUrl: string;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly advertiseAddress: string | undefined;
  readonly serviceId: string | undefined;
  readonly token: string | undefined;
  /** Serving mTLS: meta mcp_tls=true, and Consul checks the plain health port instead. */
  readonly tls?: { readonly healthHost: string; readonly healthPort: number };
  /** Ready for traffic now (the check's status until Consul first runs it). */
  readonly ready: () => boolean;
  readonly logger: Logger;
}

export interface SelfRegistration {
  readonly id: string;
  readonly address: string;
  stop(): Promise<void>;
}

const isWildcard = (host: string) => host === '0.0.0.0' || host === '::' || host === '[::]';

async function advertisedAddress(opts: SelfRegistrationOptions): Promise<string> {
  if (opts.advertiseAddress !== undefined) return resolveHost(opts.advertiseAddress);
  return resolveHost(isWildcard(opts.host) ? hostname() : opts.host);
}

/**
 * The plain health port's URL for Consul's check. Bound to every interface
 * (a Consul agent in another container or host), it is reached at the
 * advertised address: a wildcard is no address to connect to.
 */
function healthCheckUrl(tls: { readonly healthHost: string; readonly healthPort: number }, address: string): string {
  return `http://${urlHost(isWildcard(tls.healthHost) ? address : tls.healthHost)}:${tls.healthPort}/readyz`;
}

export async function registerSelf(opts: SelfRegistrationOptions): Promise<SelfRegistration> {
  const address = await advertisedAddress(opts);
  const id = opts.serviceId ?? `${opts.name}-${address}-${opts.port}`;
  const reg = new ConsulRegistration({
    consulUrl: opts.consulUrl,
    name: opts.name,
    id,
    address,
    port: opts.port,
    // mcpmesh_adapter: Prometheus finds adapters' /metrics through the control plane's service discovery.
    meta: {
      [CONSUL.meta.path]: opts.path,
      [CONSUL.meta.protocol]: 'auto',
      [CONSUL.meta.adapter]: 'true',
      ...(opts.tls ? { [CONSUL.meta.tls]: 'true' } : {}),
    },
    tags: [CONSUL.tag],
    checkPath: '/readyz',
    ...(opts.tls ? { checkUrl: healthCheckUrl(opts.tls, address) } : {}),
    checkInterval: '2s',
    deregisterCriticalAfter: '1m',
    initialStatus: () => (opts.ready() ? 'passing' : 'critical'),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    logger: opts.logger,
  });
  await reg.start();
  return { id, address, stop: () => reg.stop() };
}
