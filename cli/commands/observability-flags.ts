// The tracing and access-log flags of `mcpmesh control-plane` and `mcpmesh up`:
// each one given (flag or MCPMESH_* variable) wins over the source's setting
// (the file's `tracing:`/`accessLog:`, or KV mcpmesh/policy/_mesh).
import { AccessLogPathSchema, CollectorUrlSchema, type MeshSettings } from '../../control-plane/catalog/mesh-schema.js';
import { type FlagSpecs, type Parsed, stringFlag, UsageError } from '../flags.js';
import { percentFlag, tracingSampling } from './percent-flags.js';

export const OBSERVABILITY_FLAGS: FlagSpecs = {
  'tracing-collector': {
    type: 'string',
    description:
      'OTLP/HTTP trace collector, e.g. http://127.0.0.1:4318 (Envoy and the adapters post to /v1/traces); tracing is off without one',
  },
  'tracing-sampling': {
    type: 'string',
    description: 'percent of requests without a sampled traceparent that Envoy traces (0-100; default 1)',
  },
  'access-log': { type: 'string', description: "Envoy's JSON access log: stdout, stderr, an absolute file path, or off (default off)" },
  'access-log-sampling': { type: 'string', description: 'percent of requests logged (0-100; default 100)' },
};

/** The flags given, as mesh settings (fields not given are absent). */
export function observabilityFlags(p: Parsed): MeshSettings {
  const collector = stringFlag(p, 'tracing-collector');
  if (collector !== undefined && !CollectorUrlSchema.safeParse(collector).success) {
    throw new UsageError(`--tracing-collector must be an http:// or https:// URL such as http://127.0.0.1:4318, got "${collector}"`);
  }
  const path = stringFlag(p, 'access-log');
  if (path !== undefined && !AccessLogPathSchema.safeParse(path).success)
    throw new UsageError(`--access-log must be stdout, stderr, off or an absolute file path, got "${path}"`);
  const sampling = tracingSampling(p);
  const logSampling = percentFlag(p, 'access-log-sampling');
  const out: { tracing?: MeshSettings['tracing']; accessLog?: MeshSettings['accessLog'] } = {};
  if (collector !== undefined || sampling !== undefined)
    out.tracing = { ...(collector !== undefined ? { collector } : {}), ...(sampling !== undefined ? { sampling } : {}) };
  if (path !== undefined || logSampling !== undefined)
    out.accessLog = { ...(path !== undefined ? { path } : {}), ...(logSampling !== undefined ? { sampling: logSampling } : {}) };
  return out;
}
