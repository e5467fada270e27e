// Bearer-token authentication: required for every change, optional for reads.
// Without a configured token the API is read-only: changes are refused.
// Always open: probes and scrapes (orchestrators and Prometheus call them), and
// the documents and pages (/openapi.json, /docs and its assets, /console),
// which hold no data of the mesh: a browser loads them without a token, and
// the operator enters the token in the page, whose calls then carry it.
import { createHash, timingSafeEqual } from 'node:crypto';
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

const OPEN = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/console', '/docs']);

export function isOpen(path: string): boolean {
  return OPEN.has(path) || path.startsWith('/docs/');
}

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const expected = opts.token ? digest(opts.token) : undefined;
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    const change = req.method !== 'GET' && req.method !== 'HEAD';
    if (!change && isOpen(path)) return;
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
