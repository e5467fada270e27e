// The admin API's routes (under /api/v1), health probes, metrics and the
// console. Each route declares its params, body and responses: fastify
// validates requests with them (through their Zod schemas), serializes
// responses with them, and @fastify/swagger builds the OpenAPI document from
// them, so the document cannot drift from what is served.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { AdminBackend } from './admin-backend.js';
import { HttpError } from './admin-errors.js';
import {
  Accepted,
  Alive,
  Client,
  DrainState,
  ErrorBody,
  jsonSchema,
  NameParams,
  Overview,
  PolicyBody,
  Readiness,
  ReplicaParams,
  requestSchema,
  Server,
  Snapshot,
  SourceStatus,
  TargetGroups,
} from './admin-schemas.js';
import type { ConsoleData } from './console-data.js';
import { CONSOLE_PAGE } from './console-page.js';

export interface RouteAuth {
  /** A token is configured: changes are possible (else they answer 403). */
  readonly token: boolean;
  /** Reads need the token too. */
  readonly readAuth: boolean;
}

interface NameParamsT {
  name: string;
}
interface ReplicaParamsT extends NameParamsT {
  id: string;
}

const body = (schema: z.ZodType, description: string) => ({ description, ...jsonSchema(schema) });
const error = (description: string) => ({ description, ...jsonSchema(ErrorBody) });
const text = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: 'string' } } } });

export function registerRoutes(
  app: FastifyInstance,
  backend: AdminBackend,
  registry: Registry,
  auth: RouteAuth,
  consoleData: ConsoleData,
): void {
  const bearer = [{ bearer: [] as string[] }];
  /** Always open: probes, scrapes, the documents and pages (not the data they show). */
  const open = { security: [] as { bearer: string[] }[] };
  const read = auth.readAuth
    ? { security: bearer, errors: { 401: error('Missing or wrong bearer token (the control plane runs with --admin-read-auth)') } }
    : { security: [] as { bearer: string[] }[], errors: {} };
  const write = {
    security: bearer,
    errors: {
      400: error('Invalid parameters or body'),
      ...(auth.token
        ? { 401: error('Missing or wrong bearer token') }
        : { 403: error('Changes are disabled: the control plane runs without --admin-token') }),
      404: error('Unknown server or replica'),
      413: error('Body larger than the limit (64 KiB)'),
      415: error('Body is not application/json'),
    },
  };
  const badParams = { 400: error('Invalid path parameters (name: 1-63 characters, id: 1-512)') };

  app.get(
    '/healthz',
    { schema: { operationId: 'getHealthz', tags: ['probes'], summary: 'Liveness', ...open, response: { 200: body(Alive, 'Alive') } } },
    async () => ({
      status: 'ok' as const,
    }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadyz',
        tags: ['probes'],
        summary: 'Readiness: the source has synced, xDS serves and a snapshot is installed',
        ...open,
        response: { 200: body(Readiness, 'Ready'), 503: body(Readiness, 'Not ready; the checks say why') },
      },
    },
    async (_req, reply) => {
      const r = backend.readiness();
      return reply.code(r.ready ? 200 : 503).send(r);
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['probes'],
        summary: 'Prometheus metrics of the control plane',
        ...open,
        response: { 200: text('text/plain', 'Prometheus text exposition format') },
      },
    },
    async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
  app.get(
    '/openapi.json',
    {
      schema: {
        operationId: 'getOpenApi',
        tags: ['documents'],
        summary: 'This OpenAPI document (generated from the route schemas)',
        description: 'Open even with --admin-read-auth: it describes the API, not the mesh. The page at /docs renders it.',
        ...open,
        response: {
          200: {
            description: 'OpenAPI 3.1 document',
            content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
          },
        },
      },
    },
    async (_req, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(app.swagger())),
  );
  app.get(
    '/console',
    {
      schema: {
        operationId: 'getConsole',
        tags: ['documents'],
        summary: 'The operator console: a live page of servers, replicas, Envoys and tool traffic',
        description:
          'The page itself is open; the data it polls (GET /api/v1/overview) follows the read rules, and its Drain/Undrain buttons need the token entered in the page.',
        ...open,
        response: { 200: text('text/html', 'HTML page') },
      },
    },
    async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(CONSOLE_PAGE),
  );

  // The backend hands out the same list until something changes: serialize it once.
  let serialized: { views: readonly unknown[]; body: string } | undefined;
  app.get(
    '/api/v1/servers',
    {
      schema: {
        operationId: 'listServers',
        tags: ['servers'],
        summary: 'MCP servers with their replicas, health, drain state and policy in force',
        security: read.security,
        response: { 200: body(z.object({ servers: z.array(Server) }), 'Servers, sorted by name'), ...read.errors },
      },
    },
    async (_req, reply) => {
      const views = backend.servers();
      if (serialized?.views !== views) serialized = { views, body: JSON.stringify({ servers: views }) };
      return reply.type('application/json; charset=utf-8').send(serialized.body);
    },
  );
  app.get<{ Params: NameParamsT }>(
    '/api/v1/servers/:name',
    {
      schema: {
        operationId: 'getServer',
        tags: ['servers'],
        summary: 'One MCP server',
        security: read.security,
        params: requestSchema('GET', '/api/v1/servers/:name', 'params', NameParams),
        response: { 200: body(Server, 'The server'), ...badParams, ...read.errors, 404: error('No server of that name') },
      },
    },
    async (req) => {
      const s = backend.server(req.params.name);
      if (!s) throw new HttpError(404, 'not_found', `no MCP server named "${req.params.name}"`);
      return s;
    },
  );
  app.put<{ Params: NameParamsT; Body: unknown }>(
    '/api/v1/servers/:name/policy',
    {
      schema: {
        operationId: 'setServerPolicy',
        tags: ['servers'],
        summary: "Set a server's policy",
        description:
          'Validated with the policy schema of docs/config.md (unknown fields are errors), written to the source in force (the file, or Consul KV mcpmesh/policy/<name>), and in force once the source reads it back: hence 202.',
        security: write.security,
        params: requestSchema('PUT', '/api/v1/servers/:name/policy', 'params', NameParams),
        body: requestSchema('PUT', '/api/v1/servers/:name/policy', 'body', PolicyBody),
        response: { 202: body(Accepted, 'Stored; reaches Envoy with the next snapshot'), ...write.errors },
      },
    },
    async (req, reply) => {
      await backend.setPolicy(req.params.name, req.body);
      return reply.code(202).send({ status: 'accepted', server: req.params.name });
    },
  );
  app.delete<{ Params: NameParamsT }>(
    '/api/v1/servers/:name/policy',
    {
      schema: {
        operationId: 'deleteServerPolicy',
        tags: ['servers'],
        summary: "Delete a server's policy (defaults apply)",
        security: write.security,
        params: requestSchema('DELETE', '/api/v1/servers/:name/policy', 'params', NameParams),
        response: { 202: body(Accepted, 'Deleted from the source; defaults apply with the next snapshot'), ...write.errors },
      },
    },
    async (req, reply) => {
      await backend.deletePolicy(req.params.name);
      return reply.code(202).send({ status: 'accepted', server: req.params.name });
    },
  );
  app.post<{ Params: ReplicaParamsT }>(
    '/api/v1/servers/:name/replicas/:id/drain',
    {
      schema: {
        operationId: 'drainReplica',
        tags: ['servers'],
        summary: 'Drain a replica: no new traffic, calls in flight finish',
        description: "Held in the control plane's memory (not in the source): a restart forgets it.",
        security: write.security,
        params: requestSchema('POST', '/api/v1/servers/:name/replicas/:id/drain', 'params', ReplicaParams),
        response: { 200: body(DrainState, 'Draining'), ...write.errors },
      },
    },
    async (req) => {
      await backend.drainReplica(req.params.name, req.params.id);
      return { status: 'draining' as const, server: req.params.name, replica: req.params.id };
    },
  );
  app.post<{ Params: ReplicaParamsT }>(
    '/api/v1/servers/:name/replicas/:id/undrain',
    {
      schema: {
        operationId: 'undrainReplica',
        tags: ['servers'],
        summary: 'Return a drained replica to service',
        security: write.security,
        params: requestSchema('POST', '/api/v1/servers/:name/replicas/:id/undrain', 'params', ReplicaParams),
        response: { 200: body(DrainState, 'Serving'), ...write.errors },
      },
    },
    async (req) => {
      await backend.undrainReplica(req.params.name, req.params.id);
      return { status: 'serving' as const, server: req.params.name, replica: req.params.id };
    },
  );
  app.get(
    '/api/v1/clients',
    {
      schema: {
        operationId: 'listClients',
        tags: ['xds'],
        summary: 'Connected Envoys: node, variant, ACKed versions, last NACK with its text',
        security: read.security,
        response: { 200: body(z.object({ clients: z.array(Client) }), 'Connected Envoys'), ...read.errors },
      },
    },
    async () => ({ clients: backend.clients() }),
  );
  app.get(
    '/api/v1/snapshot',
    {
      schema: {
        operationId: 'getSnapshot',
        tags: ['xds'],
        summary: 'The snapshot in force: versions and resources as JSON',
        security: read.security,
        response: { 200: body(Snapshot, 'Snapshot'), ...read.errors },
      },
    },
    async () => backend.snapshot(),
  );
  app.get(
    '/api/v1/source',
    {
      schema: {
        operationId: 'getSource',
        tags: ['xds'],
        summary: 'The source: synced, stale, last error',
        security: read.security,
        response: { 200: body(SourceStatus, 'Source status'), ...read.errors },
      },
    },
    async () => backend.source(),
  );
  // Prometheus http_sd_configs: where the adapters' /metrics are (from the source in force).
  app.get(
    '/api/v1/sd/adapters',
    {
      schema: {
        operationId: 'listAdapterTargets',
        tags: ['observability'],
        summary: 'Adapter replicas as Prometheus HTTP service-discovery target groups',
        security: read.security,
        response: { 200: body(TargetGroups, 'Target groups (labels: server, replica)'), ...read.errors },
      },
    },
    async () => backend.scrapeTargets(),
  );
  app.get(
    '/api/v1/overview',
    {
      schema: {
        operationId: 'getOverview',
        tags: ['observability'],
        summary: "What the console shows: replicas with Envoy's view, Envoys, tool routes, traffic per tool",
        description:
          "Replica health combines the drain state, each known Envoy's view from its admin /clusters (--envoy-admin-url; `mcpmesh up` passes its own Envoy) and the source's health. Traffic per tool comes from Prometheus with --prometheus-url, else from the control plane's own scrape of the adapters' /metrics.",
        security: read.security,
        response: { 200: body(Overview, 'Overview'), ...read.errors },
      },
    },
    async () => consoleData.overview(),
  );
}
