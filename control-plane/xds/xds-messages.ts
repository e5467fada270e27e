// The xDS messages as @grpc/proto-loader decodes them (keepCase, defaults,
// longs/enums as strings). Parsed at the stream boundary: anything Envoy (or a
// misbehaving client) sends that does not fit is rejected there.
import { z } from 'zod';
import type { ResourceSet, SnapshotResource } from './snapshot.js';

const NodeSchema = z.looseObject({
  id: z.string().default(''),
  cluster: z.string().default(''),
  user_agent_name: z.string().default(''),
});

const StatusSchema = z.looseObject({ code: z.number().default(0), message: z.string().default('') });

export const DiscoveryRequestSchema = z.looseObject({
  version_info: z.string().default(''),
  node: NodeSchema.nullish(),
  resource_names: z.array(z.string()).default([]),
  type_url: z.string().default(''),
  response_nonce: z.string().default(''),
  error_detail: StatusSchema.nullish(),
});

export const DeltaDiscoveryRequestSchema = z.looseObject({
  node: NodeSchema.nullish(),
  type_url: z.string().default(''),
  resource_names_subscribe: z.array(z.string()).default([]),
  resource_names_unsubscribe: z.array(z.string()).default([]),
  initial_resource_versions: z.record(z.string(), z.string()).default({}),
  response_nonce: z.string().default(''),
  error_detail: StatusSchema.nullish(),
});

export type DiscoveryRequest = z.output<typeof DiscoveryRequestSchema>;
export type DeltaDiscoveryRequest = z.output<typeof DeltaDiscoveryRequestSchema>;
export type XdsNode = z.output<typeof NodeSchema>;

export interface DiscoveryResponse {
  version_info: string;
  /**
   * Exactly the resources the response carries, in this order. The set's
   * version hashes their names and versions, so it identifies the encoded
   * resources; version_info alone does not (a SotW endpoints response carries
   * only what the client does not hold yet).
   */
  contents: ResourceSet;
  type_url: string;
  nonce: string;
  control_plane: { identifier: string };
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  /** Snapshot resources as they are: the encoder caches each one's Resource message by identity. */
  resources: readonly SnapshotResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane: { identifier: string };
}

/** A NACK carries error_detail with a non-OK code or a message. */
export function nackMessage(detail: { code: number; message: string } | null | undefined): string | undefined {
  if (!detail) return undefined;
  if (detail.code === 0 && detail.message === '') return undefined;
  return detail.message || `error code ${detail.code}`;
}
