// Envoy's xDS API protos, loaded from @grpc/grpc-js-xds's copy of the Envoy API
// (a maintained package; the protos are never copied into this repository).
// A leaf like type-urls.ts: the Envoy translation encodes with it, the xDS
// server serves with it, and it imports nothing of either. Two views of the
// same files:
//  - a protobufjs Root, to encode each Envoy resource into google.protobuf.Any
//    once per snapshot (its bytes are also what content-hash versions hash);
//  - a @grpc/proto-loader package definition, for the ADS gRPC service.
// grpc-js-xds ships no envelope stateful-session or MCP filter protos; those
// extension configs are sent as xds.type.v3.TypedStruct (see typedStruct in control-plane/envoy/proto-values.ts).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { TypeUrl } from './type-urls.js';

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

export const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(depsDir, d));

/** Every message type the translation packs into an Any must be reachable from these files. */
const FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/json_to_metadata/v3/json_to_metadata.proto',
  'envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata.proto',
  'envoy/extensions/filters/http/stateful_session/v3/stateful_session.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  // The traced internal listener's cluster (control-plane/envoy/trace-split.ts).
  'envoy/extensions/transport_sockets/internal_upstream/v3/internal_upstream.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'xds/type/v3/typed_struct.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/duration.proto',
  'google/rpc/status.proto',
];

let root: protobuf.Root | undefined;

/**
 * Fields of Envoy's API newer than grpc-js-xds's copy of it, with their
 * numbers in envoy/extensions/transport_sockets/tls/v3/tls.proto (Envoy ≥ 1.30;
 * test/integration/security checks Envoy reads them back).
 */
function addNewerFields(r: protobuf.Root): void {
  const upstreamTls = r.lookupType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  if (upstreamTls.fields['auto_host_sni'] === undefined) upstreamTls.add(new protobuf.Field('auto_host_sni', 6, 'bool'));
  if (upstreamTls.fields['auto_sni_san_validation'] === undefined)
    upstreamTls.add(new protobuf.Field('auto_sni_san_validation', 7, 'bool'));
  // Zone-aware routing that keeps calls in the local zone (Envoy ≥ 1.35,
  // envoy/extensions/load_balancing_policies/common/v3/common.proto).
  const zoneAware = r.lookupType('envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig.ZoneAwareLbConfig');
  if (zoneAware.fields['force_local_zone'] === undefined) {
    const force = new protobuf.Type('ForceLocalZone').add(new protobuf.Field('min_size', 1, 'google.protobuf.UInt32Value'));
    zoneAware.add(force);
    zoneAware.add(new protobuf.Field('force_local_zone', 5, 'ForceLocalZone'));
  }
}

/** The protobufjs Root with every resource type (loaded once, ~0.5 s). */
export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = join(dir, target);
      try {
        require.resolve(candidate);
        return candidate;
      } catch {
        // not in this include dir
      }
    }
    return target;
  };
  r.loadSync(FILES, { keepCase: true });
  addNewerFields(r);
  r.resolveAll();
  root = r;
  return r;
}

export interface PackedAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/** A resource as the translation hands it over: named and encoded, not yet versioned. */
export interface EncodedResource {
  readonly name: string;
  readonly any: PackedAny;
}

/** Per type, every resource Envoy should hold. */
export type EncodedResources = ReadonlyMap<TypeUrl, readonly EncodedResource[]>;

/**
 * Encodes a resource (Envoy's proto field names, nested Anys as {'@type', ...})
 * into an Any. Throws with the type and field path when the object does not fit
 * the proto: a translation bug must not reach Envoy as silently dropped fields.
 */
export function packAny(typeUrl: string, resource: object): PackedAny {
  const type = envoyRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  assertKnownFields(type, resource, type.name);
  const message = type.fromObject(resource);
  return { type_url: typeUrl, value: type.encode(message).finish() };
}

/**
 * protobufjs' fromObject drops unknown keys and its verify() wants message
 * instances, not plain objects; so walk the object against the schema here.
 */
function assertKnownFields(type: protobuf.Type, value: unknown, path: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${path}: expected an object for ${type.fullName}`);
  }
  if (type.fullName === '.google.protobuf.Any' && '@type' in value) {
    const url = String((value as Record<string, unknown>)['@type']);
    const inner = envoyRoot().lookupType(url.slice(url.lastIndexOf('/') + 1));
    const { '@type': _ignored, ...rest } = value as Record<string, unknown>;
    assertKnownFields(inner, rest, `${path}<${inner.name}>`);
    return;
  }
  // google.protobuf.Struct/Value hold free-form JSON.
  if (type.fullName === '.google.protobuf.Struct' || type.fullName === '.google.protobuf.Value') return;
  for (const [key, child] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field) throw new Error(`${path}.${key}: no such field in ${type.fullName}`);
    const resolved = field.resolve().resolvedType;
    if (!(resolved instanceof protobuf.Type) || child === undefined || child === null) continue;
    if (field.map) {
      for (const [k, v] of Object.entries(child as object)) assertKnownFields(resolved, v, `${path}.${key}[${k}]`);
    } else if (field.repeated) {
      if (!Array.isArray(child)) throw new Error(`${path}.${key}: expected a list`);
      for (const [i, v] of child.entries()) assertKnownFields(resolved, v, `${path}.${key}[${i}]`);
    } else {
      assertKnownFields(resolved, child, `${path}.${key}`);
    }
  }
}

/** Decodes an Any back into plain JSON-friendly objects (admin API, tests). */
export function unpackAny(any: PackedAny): Record<string, unknown> {
  const type = envoyRoot().lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  return type.toObject(type.decode(any.value), {
    longs: String,
    enums: String,
    bytes: String,
    defaults: false,
    json: true,
  }) as Record<string, unknown>;
}

/**
 * Decodes an Any into its message, without converting it to JSON: cheap enough
 * to read a few fields of every resource in a snapshot. Read it with fieldAt.
 */
export function decodeAny(any: PackedAny): unknown {
  return envoyRoot()
    .lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1))
    .decode(any.value);
}

/** The value at `path` in a decoded message; undefined where a step is not an object. */
export function fieldAt(message: unknown, ...path: readonly string[]): unknown {
  let value = message;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Encodes one field of `typeUrl`'s message only (e.g. the `routes` of a
 * VirtualHost). Protobuf concatenation merges messages and appends repeated
 * fields, so partial encodings can be cached per server and joined.
 */
export function encodePartial(typeName: string, partial: object): Uint8Array {
  const type = envoyRoot().lookupType(typeName);
  assertKnownFields(type, partial, type.name);
  return type.encode(type.fromObject(partial)).finish();
}

/** A length-delimited field header (tag + length) for joining encoded parts. */
export function lengthDelimitedHeader(fieldNumber: number, length: number): Uint8Array {
  return protobuf.Writer.create()
    .uint32((fieldNumber << 3) | 2)
    .uint32(length)
    .finish();
}

let adsPackage: protoLoader.PackageDefinition | undefined;

/** The ADS service definition for @grpc/grpc-js. */
export function adsPackageDefinition(): protoLoader.PackageDefinition {
  adsPackage ??= protoLoader.loadSync(['envoy/service/discovery/v3/ads.proto'], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: INCLUDE_DIRS,
  });
  return adsPackage;
}
