// Builders for the well-known protobuf values that Envoy resources are full of,
// in the plain-object form protobufjs' fromObject accepts.

export interface DurationValue {
  readonly seconds: number;
  readonly nanos: number;
}

export function duration(ms: number): DurationValue {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function u32(value: number): { value: number } {
  return { value };
}

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/**
 * google.protobuf.Value in its message (not JSON) form. protobufjs bundles the
 * well-known types with camelCase field names, whatever keepCase says.
 */
function structValue(v: Json): object {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  return { structValue: struct(v as { readonly [k: string]: Json }) };
}

export function struct(obj: { readonly [k: string]: Json }): object {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, structValue(v)])) };
}

/**
 * An extension config whose .proto the npm package lacks: Envoy converts a
 * TypedStruct into the named message itself, so no proto is needed here.
 */
export function typedStruct(typeUrl: string, value: { readonly [k: string]: Json }): object {
  return { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: typeUrl, value: struct(value) };
}

/**
 * A route's per-filter config that also turns on a filter the listener has
 * off (`disabled: true`). Envoy refuses one without a config.
 */
export function filterOn(config: object): object {
  return { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', config };
}

/** Config source for resources delivered over the ADS stream. */
export const ADS_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;
