// Mesh-wide settings: where Envoy sends its traces and how many requests it
// traces, its access log, and the JWT providers agents authenticate with. One schema for the file's
// `tracing:`/`accessLog:`/`auth:` sections, the Consul KV key `mcpmesh/policy/_mesh`
// (JSON `{ "tracing": …, "accessLog": … }`) and the control plane's flags,
// which override the source field by field (docs/config.md, Observability).
import { z } from 'zod';
import { MeshAuthSchema } from './auth-schema.js';
import { RateLimitPolicySchema } from './policy-schema.js';

/** Percent of requests, 0..100; decimals allowed (0.01 is one in ten thousand). */
const Percent = z.number().min(0).max(100);

/** An OTLP/HTTP collector's base URL: Envoy and the adapters post to <url>/v1/traces. */
export const CollectorUrlSchema = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL (an OTLP/HTTP collector, e.g. http://127.0.0.1:4318)` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    ctx.addIssue({ code: 'custom', message: `"${text}" must be an http:// or https:// URL` });
  if (url.search || url.hash || url.username || url.password)
    ctx.addIssue({ code: 'custom', message: `"${text}" must not carry a query, fragment or credentials` });
});

export const TracingSettingsSchema = z.strictObject({
  /** OTLP/HTTP collector (Jaeger, an OpenTelemetry Collector); tracing is off without one. */
  collector: CollectorUrlSchema.optional(),
  /** Percent of requests without a sampled parent that Envoy starts a trace for. */
  sampling: Percent.optional(),
  /** service.name of Envoy's spans. */
  serviceName: z.string().min(1).max(128).optional(),
  /** Envoy's span per try upstream, below its request span (default true; observability.md, "Envoy's spans"). */
  upstreamSpans: z.boolean().optional(),
});

/** Where Envoy writes its JSON access log: stdout, stderr, or an absolute file path; `off` for none. */
export const AccessLogPathSchema = z.string().refine((p) => p === 'stdout' || p === 'stderr' || p === 'off' || p.startsWith('/'), {
  message: 'expected stdout, stderr, off or an absolute file path',
});

export const AccessLogSettingsSchema = z.strictObject({
  path: AccessLogPathSchema.optional(),
  /** Percent of requests logged. */
  sampling: Percent.optional(),
});

export const MeshSettingsSchema = z.strictObject({
  tracing: TracingSettingsSchema.optional(),
  accessLog: AccessLogSettingsSchema.optional(),
  /** JWT providers, the default one and whether servers may opt out (docs/security.md). */
  auth: MeshAuthSchema.optional(),
  /** The rate limit of every server whose policy sets none (per agent, per tool). */
  rateLimit: RateLimitPolicySchema.optional(),
});

export type TracingSettings = z.output<typeof TracingSettingsSchema>;
export type AccessLogSettings = z.output<typeof AccessLogSettingsSchema>;
export type MeshSettings = z.output<typeof MeshSettingsSchema>;

export const MESH_DEFAULTS = {
  tracingSampling: 1,
  serviceName: 'mcpmesh-envoy',
  upstreamSpans: true,
  accessLogSampling: 100,
} as const;

/** What Envoy is configured with: settings resolved against the flags and the defaults. */
export interface Observability {
  readonly tracing:
    | { readonly collector: string; readonly sampling: number; readonly serviceName: string; readonly upstreamSpans: boolean }
    | undefined;
  readonly accessLog: { readonly path: string; readonly sampling: number } | undefined;
}

/** `flags` (set by the operator) win over `source` field by field; no collector or no path: that part is off. */
export function resolveObservability(source: MeshSettings | undefined, flags: MeshSettings | undefined): Observability {
  const t = { ...source?.tracing, ...definedOnly(flags?.tracing) };
  const a = { ...source?.accessLog, ...definedOnly(flags?.accessLog) };
  return {
    tracing: t.collector
      ? {
          collector: t.collector.replace(/\/+$/, ''),
          sampling: t.sampling ?? MESH_DEFAULTS.tracingSampling,
          serviceName: t.serviceName ?? MESH_DEFAULTS.serviceName,
          upstreamSpans: t.upstreamSpans ?? MESH_DEFAULTS.upstreamSpans,
        }
      : undefined,
    accessLog: a.path && a.path !== 'off' ? { path: a.path, sampling: a.sampling ?? MESH_DEFAULTS.accessLogSampling } : undefined,
  };
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
