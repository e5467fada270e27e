// What Consul's HTTP API returns, parsed where it enters: malformed data from
// Consul is rejected (for the one service it concerns), never trusted.
import { z } from 'zod';
import { CONSUL, DEFAULT_MCP_PATH, MCP_PATH, MCP_PATH_RULE, PROTOCOL_GENERATIONS } from '../../lib/mesh-contracts.js';

export const CatalogServicesSchema = z.record(
  z.string(),
  z
    .array(z.string())
    .nullable()
    .transform((t) => t ?? []),
);

export const HealthCheckSchema = z.looseObject({
  Node: z.string(),
  CheckID: z.string(),
  Status: z.string(),
  ServiceID: z.string().default(''),
  ServiceName: z.string().default(''),
  ModifyIndex: z.number().default(0),
});
export const HealthStateSchema = z
  .array(HealthCheckSchema)
  .nullable()
  .transform((a) => a ?? []);

export const ServiceEntrySchema = z.looseObject({
  Node: z.looseObject({
    Node: z.string(),
    Address: z.string(),
    Datacenter: z.string().optional(),
    Meta: z.record(z.string(), z.string()).nullish(),
  }),
  Service: z.looseObject({
    ID: z.string(),
    Service: z.string(),
    Tags: z.array(z.string()).nullable().default([]),
    Address: z.string().default(''),
    Port: z.number().int(),
    Meta: z.record(z.string(), z.string()).nullable().default({}),
    Weights: z.looseObject({ Passing: z.number().int(), Warning: z.number().int() }).nullish(),
  }),
  Checks: z
    .array(z.looseObject({ CheckID: z.string(), Status: z.string(), ServiceID: z.string().default('') }))
    .nullable()
    .default([]),
});
export const HealthServiceSchema = z
  .array(z.unknown())
  .nullable()
  .transform((a) => a ?? []);

export const KvEntrySchema = z.looseObject({ Key: z.string(), Value: z.string().nullable(), ModifyIndex: z.number() });
export const KvListSchema = z
  .array(KvEntrySchema)
  .nullable()
  .transform((a) => a ?? []);

export type HealthCheck = z.output<typeof HealthCheckSchema>;
export type ServiceEntry = z.output<typeof ServiceEntrySchema>;

/** Service meta the control plane reads (the Consul conventions of lib/mesh-contracts.ts). */
export const McpMetaSchema = z.looseObject({
  // The path rule's own, but a message that names the key: a rejected service is reported without field paths.
  [CONSUL.meta.path]: z.string().max(1024).regex(MCP_PATH, `${CONSUL.meta.path} must be ${MCP_PATH_RULE}`).default(DEFAULT_MCP_PATH),
  [CONSUL.meta.protocol]: z.enum(PROTOCOL_GENERATIONS).default('auto'),
  [CONSUL.meta.tls]: z.enum(['true', 'false']).default('false'),
  [CONSUL.meta.adapter]: z.enum(['true', 'false']).default('false'),
});
