// The admin REST API (fastify): auth, one error shape, the OpenAPI document and
// its page, routes declared with their schemas, size limits, the console.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { componentLogger, type Logger } from '../../lib/log.js';
import { installAuth } from './admin-auth.js';
import type { AdminBackend } from './admin-backend.js';
import { installErrorHandling } from './admin-errors.js';
import { installDocsPage, installOpenApi } from './admin-openapi.js';
import { registerRoutes } from './admin-routes.js';
import { zodValidatorCompiler } from './admin-schemas.js';
import { ConsoleData, type ConsoleOptions } from './console-data.js';

export interface AdminServerOptions {
  readonly backend: AdminBackend;
  readonly registry: Registry;
  readonly token?: string | undefined;
  readonly readAuth?: boolean;
  readonly bodyLimitBytes?: number;
  readonly logger?: Logger;
  /** Where the console finds Envoy's view and traffic (see console-data.ts). */
  readonly console?: ConsoleOptions;
}

export function buildAdminServer(opts: AdminServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: opts.bodyLimitBytes ?? 64 * 1024,
    // A replica id may be up to 512 characters (admin-schemas.ts), percent-encoded in the path:
    // the router's default of 100 would answer 414 before the schema could say what is wrong.
    routerOptions: { maxParamLength: 3 * 512 },
    logger: false,
  });
  // JSON only: fastify would otherwise accept text/plain bodies as strings.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(zodValidatorCompiler);
  installErrorHandling(app, opts.logger ? componentLogger(opts.logger, 'admin-api') : undefined);
  const readAuth = opts.readAuth ?? false;
  installAuth(app, { token: opts.token, readAuth });
  installOpenApi(app, { readAuth, token: opts.token !== undefined });
  installDocsPage(app);
  const consoleData = new ConsoleData(opts.backend, opts.console);
  // A plugin of its own, so that it loads after the document generator is in place and sees every route.
  void app.register(async (routes) =>
    registerRoutes(routes, opts.backend, opts.registry, { token: opts.token !== undefined, readAuth }, consoleData),
  );
  return app;
}

export async function startAdminServer(opts: AdminServerOptions, listen: { host: string; port: number }): Promise<FastifyInstance> {
  const app = buildAdminServer(opts);
  await app.listen({ host: listen.host, port: listen.port });
  return app;
}
