// The adapter's spans: one per call, a child of the span that sent it (Envoy's
// try, by the traceparent header Envoy injects) and the parent of whatever the
// stdio server does for it (the call goes to the server with this span's
// context in params._meta, for 2025-era servers too). OpenTelemetry's SDK
// makes, samples and exports the spans (OTLP/HTTP protobuf, batched).
//
// Where the context comes from: the `traceparent`/`tracestate`/`baggage`
// headers, or, for a client that puts it only in the request's `_meta` (the
// 2026-07-28 convention, SEP-414), `params._meta.traceparent` etc. Envoy reads
// only headers, so when the agent's context is in `_meta` alone, Envoy's span
// starts a trace of its own; the adapter then takes the agent's `_meta`
// context as the parent (the call stays in the agent's trace) and links to
// Envoy's span. Both in one trace (same trace id): the header, i.e. Envoy's span.
//
// Off (no collector) there is no tracer: the endpoint does one undefined
// check per call. On, a call whose parent is not sampled (or which has no
// parent, with a root sampling of 0) costs a header read and a look at its
// last character, nothing else.

import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { Outcome } from './protocol/failure-classes.js';
import { readTraceParent } from './trace-parent.js';

export interface TracingOptions {
  /** OTLP/HTTP collector base URL; spans are posted to <url>/v1/traces. */
  readonly collector: string;
  /** Percent of calls without a parent context that start a trace here (0: only calls a sampled parent sent). */
  readonly sampling: number;
  readonly serviceName: string;
  /** How often finished spans are sent (ms). */
  readonly exportDelayMs?: number;
}

/** What a span records about its call; set once, when the call starts. */
export interface CallSpanInfo {
  readonly server: string;
  readonly method: string;
  readonly tool: string | undefined;
  /** The protocol revision: 2026-07-28 (stateless), or the 2025-era session's negotiated one. */
  readonly generation: string;
  /** x-envoy-attempt-count: 1 for the first try, 2 for Envoy's first retry. */
  readonly attempt: number;
  readonly jsonrpcId: string;
  readonly agent: string | undefined;
}

/** Trace-context keys, as headers and as `_meta` members. */
export const TRACE_KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/** One call's span. */
export class CallSpan {
  private writtenAt = 0;
  private slot = -1;

  constructor(
    private readonly span: Span,
    private readonly startedAt: number,
    /** The trace-context `_meta` members the server gets, as JSON text per key. */
    readonly meta: readonly (readonly [string, string])[],
    /**
     * Every attribute, given to the span in one call when it ends: on the
     * path a call's span runs with cold caches (bench/RESULTS.md), where each
     * pass through the SDK's attribute checks costs several times its price
     * in a hot loop.
     */
    private readonly attributes: Attributes,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  /** The call was written to the process in `slot`: its queue wait ends. */
  written(slot: number): void {
    this.writtenAt = performance.now();
    this.slot = slot;
  }

  end(outcome: Outcome, retryable: boolean): void {
    const now = performance.now();
    const a = this.attributes;
    if (this.writtenAt > 0) {
      a['mcpmesh.process.slot'] = this.slot;
      a['mcpmesh.queue_wait_ms'] = round(this.writtenAt - this.startedAt);
      a['mcpmesh.server_time_ms'] = round(now - this.writtenAt);
    }
    a['mcpmesh.outcome'] = outcome;
    if (retryable) a['mcpmesh.retryable'] = true;
    const s = this.span;
    if (outcome !== 'ok') {
      a['error.type'] = outcome;
      if (outcome !== 'tool_error' && outcome !== 'cancelled') s.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    }
    s.setAttributes(a);
    s.end();
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const TRACEPARENT_LENGTH = 55;

const SERVER_SPAN = { kind: SpanKind.SERVER } as const;

/** The flags byte as two hex digits: `01` for every span the adapter records (sampled, no other flag). */
function traceFlagsHex(flags: number): string {
  return flags === 1 ? '01' : flags.toString(16).padStart(2, '0');
}

/**
 * The sampled bit of a traceparent's flags (its last hex digit) is clear.
 * Without root sampling that alone decides: a valid context that says so is
 * not traced, an invalid one would not be either; the other ~99% of calls at
 * 1% sampling skip the parse.
 */
function flagsSayUnsampled(traceparent: string): boolean {
  // Only the exact version-00 shape (55 characters) ends with the flags; other shapes go to the parser.
  if (traceparent.length !== TRACEPARENT_LENGTH) return false;
  const c = traceparent.charCodeAt(TRACEPARENT_LENGTH - 1);
  // '0'..'9' → 0..9, 'a'..'f'/'A'..'F' → 10..15; anything else: leave it to the parser.
  const digit = c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1;
  return digit >= 0 && (digit & 1) === 0;
}

function metaString(meta: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = meta?.[key];
  return typeof v === 'string' ? v : undefined;
}

function withState(ctx: SpanContext, state: string | undefined): SpanContext {
  // Envoy sends an empty tracestate with every traceparent: nothing to parse.
  if (state === undefined || state === '') return ctx;
  try {
    return { ...ctx, traceState: new TraceState(state) };
  } catch {
    return ctx;
  }
}

export class CallTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly rootSampling: boolean;

  constructor(opts: TracingOptions) {
    const ratio = Math.min(1, Math.max(0, opts.sampling / 100));
    this.rootSampling = ratio > 0;
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.collector.replace(/\/+$/, '')}/v1/traces` }), {
          scheduledDelayMillis: opts.exportDelayMs ?? 500,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('mcpmesh-adapter');
  }

  /**
   * The call's span, or undefined when it is not sampled. `meta` is the
   * request's params._meta (a 2026-07-28 agent may carry its context there).
   */
  start(headers: IncomingHttpHeaders, meta: Record<string, unknown> | undefined, info: CallSpanInfo): CallSpan | undefined {
    const headerParent = first(headers['traceparent']);
    const metaParent = metaString(meta, 'traceparent');
    if (metaParent === undefined && !this.rootSampling && (headerParent === undefined || flagsSayUnsampled(headerParent))) return undefined;
    const fromHeader = headerParent === undefined ? null : readTraceParent(headerParent);
    const fromMeta = metaParent === undefined ? null : readTraceParent(metaParent);
    let parent: SpanContext | null = null;
    let baggage: string | undefined;
    const links: Link[] = [];
    if (fromMeta !== null && (fromHeader === null || fromHeader.traceId !== fromMeta.traceId)) {
      // The agent's own context, which Envoy could not see: the call stays in the agent's trace.
      parent = withState(fromMeta, metaString(meta, 'tracestate'));
      baggage = metaString(meta, 'baggage');
      if (fromHeader !== null) links.push({ context: fromHeader, attributes: { 'mcpmesh.link': 'proxy' } });
    } else if (fromHeader !== null) {
      parent = withState(fromHeader, first(headers['tracestate']));
      baggage = first(headers['baggage']) ?? metaString(meta, 'baggage');
    }
    // An unsampled parent: nothing to record, nothing to pass on but what the body already carries.
    if (parent !== null && (parent.traceFlags & 1) === 0) return undefined;
    if (parent === null && !this.rootSampling) return undefined;
    const attributes: Attributes = {
      'mcp.method.name': info.method,
      'mcp.protocol.version': info.generation,
      'mcpmesh.server': info.server,
      'mcpmesh.protocol.generation': info.generation === '2026-07-28' ? 'stateless' : 'session',
      'mcpmesh.attempt': info.attempt,
      'jsonrpc.request.id': info.jsonrpcId,
    };
    if (info.tool !== undefined) attributes['gen_ai.tool.name'] = info.tool;
    if (info.agent !== undefined) attributes['mcpmesh.agent'] = info.agent;
    const startedAt = performance.now();
    const ctx = parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
    // No attributes here: the samplers take none into account, and CallSpan.end sets them all at once.
    const span = this.tracer.startSpan(
      info.tool !== undefined ? `${info.method} ${info.tool}` : info.method,
      links.length > 0 ? { kind: SpanKind.SERVER, links } : SERVER_SPAN,
      ctx,
    );
    const sc = span.spanContext();
    if ((sc.traceFlags & 1) === 0) {
      // The root sampler said no.
      span.end();
      return undefined;
    }
    // Hex digits and dashes only: quoted, it is its own JSON text.
    const meta_: [string, string][] = [['traceparent', `"00-${sc.traceId}-${sc.spanId}-${traceFlagsHex(sc.traceFlags)}"`]];
    const state = sc.traceState?.serialize();
    if (state) meta_.push(['tracestate', JSON.stringify(state)]);
    if (baggage !== undefined) meta_.push(['baggage', JSON.stringify(baggage)]);
    return new CallSpan(span, startedAt, meta_, attributes);
  }

  /** Sends what is finished and stops. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
