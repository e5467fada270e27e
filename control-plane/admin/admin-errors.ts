// One error shape for every admin API failure, fastify's own included:
//   { "error": { "code": "not_found", "message": "...", "details": [...] } }
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from '../../lib/log.js';
import { NotFoundError, ValidationError } from './admin-backend.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: readonly string[],
  ) {
    super(message);
  }
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  500: 'internal',
};

export function errorBody(code: string, message: string, details?: readonly string[]) {
  return { error: { code, message, ...(details && details.length > 0 ? { details } : {}) } };
}

export function installErrorHandling(app: FastifyInstance, logger?: Logger): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send(errorBody(err.code, err.message, err.details));
    if (err instanceof ValidationError) return reply.code(400).send(errorBody('invalid_policy', err.message, err.details));
    if (err instanceof NotFoundError) return reply.code(404).send(errorBody('not_found', err.message));
    const fe = err as FastifyError;
    if (fe.validation) return reply.code(400).send(errorBody('bad_request', fe.message));
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
    if (status >= 500) logger?.error({ method: req.method, url: req.url, err: err.message }, 'admin API request failed');
    return reply.code(status).send(errorBody(CODES[status] ?? 'error', status >= 500 ? 'internal error' : err.message));
  });
}
