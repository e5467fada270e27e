// The admin API's routes (under /api/v1), health probes and metrics.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { AdminBackend } from './admin-backend.js';
import { HttpError } from './admin-errors.js';
import { DOCS_PAGE, OPENAPI } from './admin-openapi.js';

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 63 } },
} as const;
const replicaParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 63 }, id: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

interface NameParams {
  name: string;
}
interface ReplicaParams extends NameParams {
  id: string;
}

export function registerRoutes(app: FastifyInstance, backend: AdminBackend, registry: Registry): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = backend.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/openapi.json', async () => OPENAPI);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));

  // The backend hands out the same list until something changes: serialize it once.
  let serialized: { views: readonly unknown[]; body: string } | undefined;
  app.get('/api/v1/servers', async (_req, reply) => {
    const views = backend.servers();
    if (serialized?.views !== views) serialized = { views, body: JSON.stringify({ servers: views }) };
    return reply.type('application/json; charset=utf-8').send(serialized.body);
  });
  app.get<{ Params: NameParams }>('/api/v1/servers/:name', { schema: { params: nameParams } }, async (req) => {
    const s = backend.server(req.params.name);
    if (!s) throw new HttpError(404, 'not_found', `no MCP server named "${req.params.name}"`);
    return s;
  });
  app.put<{ Params: NameParams; Body: unknown }>('/api/v1/servers/:name/policy', { schema: { params: nameParams } }, async (req, reply) => {
    if (req.body === undefined || req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) {
      throw new HttpError(400, 'bad_request', 'the body must be a JSON object (a policy)');
    }
    await backend.setPolicy(req.params.name, req.body);
    return reply.code(202).send({ status: 'accepted', server: req.params.name });
  });
  app.delete<{ Params: NameParams }>('/api/v1/servers/:name/policy', { schema: { params: nameParams } }, async (req, reply) => {
    await backend.deletePolicy(req.params.name);
    return reply.code(202).send({ status: 'accepted', server: req.params.name });
  });
  app.post<{ Params: ReplicaParams }>('/api/v1/servers/:name/replicas/:id/drain', { schema: { params: replicaParams } }, async (req) => {
    await backend.drainReplica(req.params.name, req.params.id);
    return { status: 'draining', server: req.params.name, replica: req.params.id };
  });
  app.post<{ Params: ReplicaParams }>('/api/v1/servers/:name/replicas/:id/undrain', { schema: { params: replicaParams } }, async (req) => {
    await backend.undrainReplica(req.params.name, req.params.id);
    return { status: 'serving', server: req.params.name, replica: req.params.id };
  });
  app.get('/api/v1/clients', async () => ({ clients: backend.clients() }));
  app.get('/api/v1/snapshot', async () => backend.snapshot());
  app.get('/api/v1/source', async () => backend.source());
  // Prometheus http_sd_configs: where the adapters' /metrics are (from the source in force).
  app.get('/api/v1/sd/adapters', async () => backend.scrapeTargets());
}
