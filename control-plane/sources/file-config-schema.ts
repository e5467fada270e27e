// The mcpmesh.yaml schema (documented in docs/config.md, example in
// examples/mcpmesh.yaml). Strict: unknown fields are errors naming the field.
import { z } from 'zod';
import { DEFAULT_PORTS, McpPathSchema, PROTOCOL_GENERATIONS, ServerNameSchema } from '../../lib/mesh-contracts.js';
import { MeshAuthSchema } from '../catalog/auth-schema.js';
import { LocalityNameSchema } from '../catalog/locality.js';
import { AccessLogSettingsSchema, TracingSettingsSchema } from '../catalog/mesh-schema.js';
import { PolicySchema, RateLimitPolicySchema } from '../catalog/policy-schema.js';

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
    /** Where the replica runs: Envoy prefers its own zone, then its own datacenter (the file's `datacenter`). */
    zone: LocalityNameSchema.optional(),
    datacenter: LocalityNameSchema.optional(),
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
  path: McpPathSchema.optional(),
});

export const FileServerSchema = z
  .strictObject({
    name: ServerNameSchema,
    protocol: z.enum(PROTOCOL_GENERATIONS).optional(),
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
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of "replicas" (HTTP servers), "stdio" (a stdio command) or "run" (an HTTP server command)',
      });
    }
  });

const EnvoySettingsSchema = z.strictObject({
  listenAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
  listenPort: Port.optional(),
  adminPort: Port.optional(),
});

const ControlPlaneSettingsSchema = z.strictObject({
  xdsPort: Port.optional(),
  adminPort: Port.optional(),
});

/**
 * TLS inside the mesh the file describes. `adapters: true`: the file's stdio
 * servers' adapters serve mTLS (Envoy and the control plane reach them over
 * https with a client certificate of the mesh CA); `mcpmesh up` then makes or
 * uses a development CA and runs xDS over TLS too (docs/security.md).
 */
const MeshTlsSchema = z.strictObject({
  adapters: z.boolean().optional(),
  /** A `mcpmesh dev-ca --out` directory `mcpmesh up` uses (default: one it makes once in its state directory). */
  caDir: z
    .string()
    .max(4096)
    .regex(/^\/[^\0\n]*$/, 'an absolute directory path')
    .optional(),
});

const MAX_SERVERS = 10_000;

export const FileConfigSchema = z
  .strictObject({
    envoy: EnvoySettingsSchema.optional(),
    controlPlane: ControlPlaneSettingsSchema.optional(),
    tracing: TracingSettingsSchema.optional(),
    accessLog: AccessLogSettingsSchema.optional(),
    /** The local datacenter: replicas of others take traffic only as it loses healthy replicas. */
    datacenter: LocalityNameSchema.optional(),
    auth: MeshAuthSchema.optional(),
    tls: MeshTlsSchema.optional(),
    /** Mesh-wide: the rate limit of every server whose policy sets none. */
    rateLimit: RateLimitPolicySchema.optional(),
    servers: z.array(FileServerSchema).max(MAX_SERVERS),
  })
  .superRefine((cfg, ctx) => {
    for (const [i, name] of duplicateNames(cfg.servers)) {
      ctx.addIssue({
        code: 'custom',
        path: ['servers', i, 'name'],
        message: `duplicate server name "${name}" (also servers.${cfg.servers.findIndex((s) => s.name === name)})`,
      });
    }
  });

/**
 * The file with its server entries left unchecked, for readers that check each
 * entry on its own (and skip the entries they have checked before). Together
 * with FileServerSchema per entry and duplicateNames it accepts what
 * FileConfigSchema accepts.
 */
export const FileConfigShellSchema = z.strictObject({
  envoy: EnvoySettingsSchema.optional(),
  controlPlane: ControlPlaneSettingsSchema.optional(),
  tracing: TracingSettingsSchema.optional(),
  accessLog: AccessLogSettingsSchema.optional(),
  datacenter: LocalityNameSchema.optional(),
  auth: MeshAuthSchema.optional(),
  tls: MeshTlsSchema.optional(),
  rateLimit: RateLimitPolicySchema.optional(),
  servers: z.array(z.unknown()).max(MAX_SERVERS),
});

/** Index and name of every server entry whose name an earlier entry already has. */
export function duplicateNames(servers: readonly { readonly name: string }[]): [number, string][] {
  const seen = new Set<string>();
  const out: [number, string][] = [];
  servers.forEach((s, i) => {
    if (seen.has(s.name)) out.push([i, s.name]);
    else seen.add(s.name);
  });
  return out;
}

export type FileConfig = z.output<typeof FileConfigSchema>;
export type FileServer = z.output<typeof FileServerSchema>;

export const CONFIG_DEFAULTS = {
  listenAddress: '127.0.0.1',
  listenPort: DEFAULT_PORTS.envoyEgress,
  envoyAdminPort: DEFAULT_PORTS.envoyAdmin,
  xdsPort: DEFAULT_PORTS.xds,
  adminPort: DEFAULT_PORTS.adminApi,
} as const;
