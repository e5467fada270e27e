// The mcpmesh.yaml schema (documented in docs/config.md, example in
// examples/mcpmesh.yaml). Strict: unknown fields are errors naming the field.
import { z } from 'zod';
import { DEFAULT_PORTS } from '../../lib/defaults.js';
import { PolicySchema } from '../catalog/policy-schema.js';

export const SERVER_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const HttpUrl = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `"${text}" must be an http:// or https:// URL` });
  }
  if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: `"${text}" must not carry a query or fragment` });
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: `"${text}" must not carry credentials` });
});

const Port = z.number().int().min(1).max(65535);

const ReplicaSchema = z.union([
  HttpUrl,
  z.strictObject({
    url: HttpUrl,
    weight: z.number().int().min(1).max(128).optional(),
    /** For trying things out: mark a replica unhealthy/draining without removing it. */
    health: z.enum(['healthy', 'degraded', 'unhealthy', 'draining']).optional(),
  }),
]);

const StdioSchema = z.strictObject({
  /** argv of the stdio MCP server. */
  command: z.array(z.string().min(1)).min(1),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  /** Processes per adapter. */
  pool: z.number().int().min(1).max(64).optional(),
  /** Adapters (Envoy endpoints) to run. */
  replicas: z.number().int().min(1).max(16).optional(),
  /** First adapter port; replica i listens on port + i. */
  port: Port.optional(),
});

const RunSchema = z.strictObject({
  /** argv of a Streamable HTTP MCP server; it gets its port in the PORT environment variable. */
  command: z.array(z.string().min(1)).min(1),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  /** Processes (Envoy endpoints) to run. */
  replicas: z.number().int().min(1).max(16).optional(),
  /** First port; replica i listens on port + i. */
  port: Port.optional(),
  /** The server's MCP endpoint path. */
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starting with / of visible ASCII characters').optional(),
});

export const FileServerSchema = z
  .strictObject({
    name: z.string().regex(SERVER_NAME, 'server names are 1-63 of a-z 0-9 _ . - and start with a letter or digit'),
    protocol: z.enum(['auto', '2025', '2026']).optional(),
    /** Streamable HTTP replicas: URLs whose path is the server's MCP endpoint. */
    replicas: z.array(ReplicaSchema).min(1).max(1000).optional(),
    /** A stdio server that `mcpmesh up` runs behind adapters. */
    stdio: StdioSchema.optional(),
    /** A Streamable HTTP server that `mcpmesh up` runs itself, one process per replica. */
    run: RunSchema.optional(),
    policy: PolicySchema.optional(),
  })
  .superRefine((s, ctx) => {
    if ([s.replicas, s.stdio, s.run].filter((x) => x !== undefined).length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of "replicas" (HTTP servers), "stdio" (a stdio command) or "run" (an HTTP server command)' });
    }
  });

export const FileConfigSchema = z
  .strictObject({
    envoy: z
      .strictObject({
        listenAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
        listenPort: Port.optional(),
        adminPort: Port.optional(),
      })
      .optional(),
    controlPlane: z
      .strictObject({
        xdsPort: Port.optional(),
        adminPort: Port.optional(),
      })
      .optional(),
    servers: z.array(FileServerSchema).max(10_000),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.servers.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `duplicate server name "${s.name}" (also servers.${first})` });
      } else seen.set(s.name, i);
    });
  });

export type FileConfig = z.output<typeof FileConfigSchema>;
export type FileServer = z.output<typeof FileServerSchema>;

export const CONFIG_DEFAULTS = {
  listenAddress: '127.0.0.1',
  listenPort: DEFAULT_PORTS.envoyEgress,
  envoyAdminPort: DEFAULT_PORTS.envoyAdmin,
  xdsPort: DEFAULT_PORTS.xds,
  adminPort: DEFAULT_PORTS.adminApi,
} as const;
