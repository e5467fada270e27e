// Starts the admin REST API when control-plane/admin provides it.
import type { Registry } from 'prom-client';
import type { AdminBackend } from '../../control-plane/admin/admin-backend.js';
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
  logger: Logger;
}): Promise<AdminApiHandle | undefined> {
  opts.logger.warn({ port: opts.port }, 'admin API not in this build yet');
  return undefined;
}
