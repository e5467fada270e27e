// Encoding of SotW DiscoveryResponses, shared between streams. With many Envoys
// on one snapshot, every stream would re-encode the same resources; instead the
// body (everything but the nonce) is encoded once per (type, version) and each
// stream appends its own nonce field: protobuf concatenation merges fields, so
// the bytes are a valid DiscoveryResponse. grpc-js serializes through the
// service definition, so the ADS service is given a serializer that passes
// pre-encoded Buffers through unchanged.
import type * as grpc from '@grpc/grpc-js';
import { envoyRoot, lengthDelimitedHeader } from './envoy-protos.js';
import type { DiscoveryResponse } from './xds-messages.js';

const NONCE_FIELD = 5;

export class SotwResponseCache {
  private bodies = new Map<string, Uint8Array>();
  private readonly type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');

  /** Forget bodies of older snapshots. */
  clear(): void {
    this.bodies = new Map();
  }

  encode(response: DiscoveryResponse): Buffer {
    const key = `${response.type_url}\0${response.version_info}`;
    let body = this.bodies.get(key);
    if (!body) {
      const { nonce: _nonce, ...rest } = response;
      body = this.type.encode(this.type.fromObject(rest)).finish();
      this.bodies.set(key, body);
    }
    const nonce = Buffer.from(response.nonce, 'utf8');
    return Buffer.concat([body, lengthDelimitedHeader(NONCE_FIELD, nonce.length), nonce]);
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

