// Starts the admin REST API and reports where it listens.
import type { Registry } from 'prom-client';
import type { AdminBackend } from '../../control-plane/admin/admin-backend.js';
import { startAdminServer } from '../../control-plane/admin/admin-server.js';
import type { ConsoleOptions } from '../../control-plane/admin/console-data.js';
import type { Logger } from '../../lib/log.js';

export interface AdminApiHandle {
  readonly url: string;
  close(): Promise<void>;
}

export async function startAdminApi(opts: {
  backend: AdminBackend;
  registry: Registry;
  host: string;
  port: number;
  token?: string;
  readAuth?: boolean;
  console?: ConsoleOptions;
  logger: Logger;
}): Promise<AdminApiHandle> {
  const app = await startAdminServer(
    {
      backend: opts.backend,
      registry: opts.registry,
      token: opts.token,
      readAuth: opts.readAuth ?? false,
      logger: opts.logger,
      ...(opts.console ? { console: opts.console } : {}),
    },
    { host: opts.host, port: opts.port },
  );
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  opts.logger.info(
    { url: `http://${opts.host}:${port}`, console: `http://${opts.host}:${port}/console`, docs: `http://${opts.host}:${port}/docs/` },
    'admin API listening',
  );
  return { url: `http://${opts.host}:${port}`, close: () => app.close() };
}
