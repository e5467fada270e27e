// The admin REST API (fastify): auth, one error shape, routes, size limits.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import type { AdminBackend } from './admin-backend.js';
import { installAuth } from './admin-auth.js';
import { installErrorHandling } from './admin-errors.js';
import { registerRoutes } from './admin-routes.js';

export interface AdminServerOptions {
  readonly backend: AdminBackend;
  readonly registry: Registry;
  readonly token?: string | undefined;
  readonly readAuth?: boolean;
  readonly bodyLimitBytes?: number;
  readonly logger?: Logger;
}

export function buildAdminServer(opts: AdminServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: opts.bodyLimitBytes ?? 64 * 1024,
    logger: false,
  });
  // JSON only: fastify would otherwise accept text/plain bodies as strings.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app, opts.logger?.child({ component: 'admin-api' }));
  installAuth(app, { token: opts.token, readAuth: opts.readAuth ?? false });
  registerRoutes(app, opts.backend, opts.registry);
  return app;
}

export async function startAdminServer(opts: AdminServerOptions, listen: { host: string; port: number }): Promise<FastifyInstance> {
  const app = buildAdminServer(opts);
  await app.listen({ host: listen.host, port: listen.port });
  return app;
}
