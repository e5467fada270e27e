// Encoding of DiscoveryResponses, shared between streams. With many Envoys
// on one snapshot, every stream would re-encode the same resources; instead the
// body (everything but the nonce) is encoded once per distinct body and each
// stream appends its own nonce field: protobuf concatenation merges fields, so
// the bytes are a valid DiscoveryResponse. grpc-js serializes through the
// service definition, so the ADS service is given a serializer that passes
// pre-encoded Buffers through unchanged.
import type * as grpc from '@grpc/grpc-js';
import { envoyRoot, lengthDelimitedHeader } from './api/envoy-protos.js';
import type { SnapshotResource } from './snapshot.js';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from './xds-messages.js';

const NONCE_FIELD = 5;

/**
 * SotW response bodies, shared by every stream whose response has the same key.
 *
 * The rule: a body is handed to every response with an equal key, so the key
 * must cover every input that shapes the body's bytes, which is every field but
 * the nonce: type_url, version_info, control_plane.identifier, and which
 * resources are carried. The resources are keyed by `contents.version`, the hash
 * over the names and versions (content hashes) of exactly the resources carried,
 * in the order they are encoded (a ResourceSet's map is in the order its version
 * hashes). They must not be keyed by version_info: an endpoints response at
 * one version carries only the assignments the client does not hold yet, so
 * two clients at one version_info may be sent different resources. (Keyed by
 * type and version, an Envoy that connected after an endpoints-only change was
 * given another client's one changed assignment instead of all of them.)
 *
 * Clients in the same state still share one body: they get equal contents (the
 * full set, or the same change set, see sotw-stream.ts), hence an equal key.
 */
export class SotwResponseCache {
  private bodies = new Map<string, Uint8Array>();
  private readonly type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');

  /** Forget bodies of older snapshots (only to bound memory: a key never goes stale). */
  clear(): void {
    this.bodies = new Map();
  }

  encode(response: DiscoveryResponse): Buffer {
    const { type_url, version_info, contents, control_plane } = response;
    const key = `${type_url}\0${version_info}\0${contents.version}\0${control_plane.identifier}`;
    let body = this.bodies.get(key);
    if (!body) {
      const resources = [...contents.resources.values()].map((r) => r.any);
      body = this.type.encode(this.type.fromObject({ version_info, resources, type_url, control_plane })).finish();
      this.bodies.set(key, body);
    }
    const nonce = Buffer.from(response.nonce, 'utf8');
    return Buffer.concat([body, lengthDelimitedHeader(NONCE_FIELD, nonce.length), nonce]);
  }

  /** Bodies encoded since the last clear (tests). */
  get size(): number {
    return this.bodies.size;
  }
}

const RESOURCES_FIELD = 2;

/**
 * Delta responses differ per stream (which resources, the nonce), but the
 * resources in them do not: each snapshot resource's Resource message is
 * encoded once and the response is joined from those bytes and its own small
 * fields (protobuf concatenation appends repeated fields). A thousand Envoys
 * syncing a thousand endpoints encode a thousand Resources, not a million.
 */
export class DeltaResponseEncoder {
  private readonly resources = new WeakMap<SnapshotResource, Uint8Array>();
  private readonly responseType = envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  private readonly resourceType = envoyRoot().lookupType('envoy.service.discovery.v3.Resource');

  encode(response: DeltaDiscoveryResponse): Buffer {
    const { resources, ...rest } = response;
    const parts: Uint8Array[] = [this.responseType.encode(this.responseType.fromObject(rest)).finish()];
    for (const r of resources) {
      const bytes = this.resource(r);
      parts.push(lengthDelimitedHeader(RESOURCES_FIELD, bytes.length), bytes);
    }
    return Buffer.concat(parts);
  }

  private resource(r: SnapshotResource): Uint8Array {
    let bytes = this.resources.get(r);
    if (!bytes) {
      bytes = this.resourceType.encode(this.resourceType.fromObject({ name: r.name, version: r.version, resource: r.any })).finish();
      this.resources.set(r, bytes);
    }
    return bytes;
  }
}

/**
 * Bounds the bytes handed to gRPC but not yet flushed, across all streams. A
 * thousand Envoys connecting at once would otherwise queue a full snapshot each
 * in memory; beyond the budget, responses wait (unencoded) for earlier ones to
 * drain. Each stream has at most one response per type in flight anyway.
 */
export class SendBudget {
  private inFlight = 0;
  private readonly queue: { encode: () => Buffer; write: (buf: Buffer, done: () => void) => void; alive: () => boolean }[] = [];

  constructor(private readonly limitBytes = 8 * 1024 * 1024) {}

  send(encode: () => Buffer, write: (buf: Buffer, done: () => void) => void, alive: () => boolean): void {
    this.queue.push({ encode, write, alive });
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0 && (this.inFlight < this.limitBytes || this.inFlight === 0)) {
      const next = this.queue.shift()!;
      if (!next.alive()) continue;
      const buf = next.encode();
      this.inFlight += buf.length;
      let released = false;
      next.write(buf, () => {
        if (released) return;
        released = true;
        this.inFlight -= buf.length;
        this.drain();
      });
    }
  }

  get bytesInFlight(): number {
    return this.inFlight;
  }
}

/** The ADS service definition with response serializers that accept pre-encoded Buffers. */
export function withPreEncodedResponses(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) };
  }
  return out as grpc.ServiceDefinition;
}
