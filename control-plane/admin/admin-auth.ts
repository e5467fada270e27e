// Bearer-token authentication: required for every change, optional for reads.
// Without a configured token the API is read-only: changes are refused.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './admin-errors.js';

export interface AuthOptions {
  readonly token?: string | undefined;
  /** Require the token for reads too. */
  readonly readAuth?: boolean;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function presented(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const expected = opts.token ? digest(opts.token) : undefined;
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    // Probes and scrapes stay open: orchestrators and Prometheus call them.
    if (path === '/healthz' || path === '/readyz' || path === '/metrics') return;
    const change = req.method !== 'GET' && req.method !== 'HEAD';
    if (!change && !opts.readAuth) return;
    if (!expected) {
      if (change) throw new HttpError(403, 'forbidden', 'changes are disabled: start the control plane with --admin-token to enable them');
      throw new HttpError(401, 'unauthorized', 'a bearer token is required');
    }
    const given = presented(req);
    if (given === undefined) throw new HttpError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    // Compared as digests: constant time and independent of the token's length.
    if (!timingSafeEqual(digest(given), expected)) throw new HttpError(401, 'unauthorized', 'invalid bearer token');
  });
}
