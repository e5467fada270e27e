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
// When: a call's start decides only what must be known then (sampled or not
// and the span's ids, by the SDK's sampler and id generator:
// span-decided-at-start.ts); the SDK span is built, attributed and ended
// after the answer has been handed to the socket (deferred-spans.ts), with
// the call's own start and end times.
//
// Off (no collector) there is no tracer: the endpoint does one undefined
// check per call. On, a call whose parent is not sampled (or which has no
// parent, with a root sampling of 0) costs a header read and a look at its
// last character, nothing else.

import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { addHrTimes, millisToHrTime, TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { UNTRACED_TRACEPARENT } from '../lib/mesh-contracts.js';
import { type DeferredSpan, DeferredSpans } from './deferred-spans.js';
import type { Outcome } from './protocol/failure-classes.js';
import { DecidedAtStart, type StartDecision } from './span-decided-at-start.js';
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

/** The SDK's side of a tracer, shared by its calls' spans. */
interface SpanRecorder {
  readonly tracer: Tracer;
  readonly decided: DecidedAtStart;
  readonly later: DeferredSpans;
}

/** What the span of a sampled call is, fixed when the call starts. */
interface SpanPlan {
  readonly name: string;
  /** The remote parent's context, or the root context. */
  readonly parent: Context;
  readonly links: Link[] | undefined;
  readonly decision: StartDecision;
  /** Wall clock (ms), as the SDK reads it for a span it starts itself. */
  readonly startedAtMs: number;
  /** performance.now() at the start: the call's queue wait and duration count from it. */
  readonly startedAt: number;
}

/**
 * One call's span: its ids are fixed when the call starts; the SDK span is
 * built, attributed and ended after the answer has gone out (DeferredSpans),
 * with the times the call had.
 */
export class CallSpan implements DeferredSpan {
  private writtenAt = 0;
  private slot = -1;
  private endedAt = 0;
  private outcome: Outcome = 'ok';
  private retryable = false;

  constructor(
    private readonly recorder: SpanRecorder,
    private readonly plan: SpanPlan,
    /** The trace-context `_meta` members the server gets, as JSON text per key. */
    readonly meta: readonly (readonly [string, string])[],
    /** What the call is; its attributes are made from it when the span is built, off the call's path. */
    private readonly info: CallSpanInfo,
  ) {}

  get traceId(): string {
    return this.plan.decision.traceId;
  }

  get spanId(): string {
    return this.plan.decision.spanId;
  }

  /** The call was written to the process in `slot`: its queue wait ends. */
  written(slot: number): void {
    this.writtenAt = performance.now();
    this.slot = slot;
  }

  /** The call ended (its answer, if any, is written): the span is recorded once the event loop is free. */
  end(outcome: Outcome, retryable: boolean): void {
    if (this.endedAt > 0) return;
    this.endedAt = performance.now();
    this.outcome = outcome;
    this.retryable = retryable;
    this.recorder.later.add(this);
  }

  record(): void {
    const p = this.plan;
    const { tracer, decided } = this.recorder;
    const options: SpanOptions = { kind: SpanKind.SERVER, startTime: p.startedAtMs };
    if (p.links !== undefined) options.links = p.links;
    const s = decided.build(p.decision, () => tracer.startSpan(p.name, options, p.parent));
    // Every attribute in one call: on the path a call's span runs with cold caches (bench/RESULTS.md), where each
    // pass through the SDK's attribute checks costs several times its price in a hot loop.
    const a = spanAttributes(this.info);
    if (this.writtenAt > 0) {
      a['mcpmesh.process.slot'] = this.slot;
      a['mcpmesh.queue_wait_ms'] = round(this.writtenAt - p.startedAt);
      a['mcpmesh.server_time_ms'] = round(this.endedAt - this.writtenAt);
    }
    const outcome = this.outcome;
    a['mcpmesh.outcome'] = outcome;
    if (this.retryable) a['mcpmesh.retryable'] = true;
    if (outcome !== 'ok') {
      a['error.type'] = outcome;
      if (outcome !== 'tool_error' && outcome !== 'cancelled') s.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    }
    s.setAttributes(a);
    // The end as the SDK computes it for a span it times itself: the wall-clock start plus the monotonic duration.
    s.end(addHrTimes(millisToHrTime(p.startedAtMs), millisToHrTime(this.endedAt - p.startedAt)));
  }
}

/** The attributes a call's span has whatever its outcome. */
function spanAttributes(info: CallSpanInfo): Attributes {
  const a: Attributes = {
    'mcp.method.name': info.method,
    'mcp.protocol.version': info.generation,
    'mcpmesh.server': info.server,
    'mcpmesh.protocol.generation': info.generation === '2026-07-28' ? 'stateless' : 'session',
    'mcpmesh.attempt': info.attempt,
    'jsonrpc.request.id': info.jsonrpcId,
  };
  if (info.tool !== undefined) a['gen_ai.tool.name'] = info.tool;
  if (info.agent !== undefined) a['mcpmesh.agent'] = info.agent;
  return a;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const TRACEPARENT_LENGTH = 55;

const NO_LINKS: Link[] = [];

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
  private readonly recorder: SpanRecorder;
  private readonly rootSampling: boolean;

  /** `exporter`: where finished spans go (OTLP/HTTP protobuf to `opts.collector` unless given). */
  constructor(opts: TracingOptions, exporter?: SpanExporter) {
    const ratio = Math.min(1, Math.max(0, opts.sampling / 100));
    this.rootSampling = ratio > 0;
    const decided = new DecidedAtStart(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }));
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
      sampler: decided,
      idGenerator: decided,
      spanProcessors: [
        new BatchSpanProcessor(exporter ?? new OTLPTraceExporter({ url: `${opts.collector.replace(/\/+$/, '')}/v1/traces` }), {
          scheduledDelayMillis: opts.exportDelayMs ?? 500,
        }),
      ],
    });
    this.recorder = { tracer: this.provider.getTracer('mcpmesh-adapter'), decided, later: new DeferredSpans() };
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
    // With root sampling (what `mcpmesh up` gives its adapters) the flags alone cannot decide, an invalid header being
    // no parent; a valid unsampled one (Envoy's `-00`, 99 calls of 100 at 1%) needs nothing more.
    if (metaParent === undefined && fromHeader !== null && (fromHeader.traceFlags & 1) === 0) return undefined;
    const fromMeta = metaParent === undefined ? null : readTraceParent(metaParent);
    let parent: SpanContext | null = null;
    let baggage: string | undefined;
    let links: Link[] | undefined;
    if (fromMeta !== null && (fromHeader === null || fromHeader.traceId !== fromMeta.traceId)) {
      // The agent's own context, which Envoy could not see: the call stays in the agent's trace.
      parent = withState(fromMeta, metaString(meta, 'tracestate'));
      baggage = metaString(meta, 'baggage');
      // Envoy's context for a request it did not trace names no span.
      if (fromHeader !== null && headerParent !== UNTRACED_TRACEPARENT)
        links = [{ context: fromHeader, attributes: { 'mcpmesh.link': 'proxy' } }];
    } else if (fromHeader !== null) {
      parent = withState(fromHeader, first(headers['tracestate']));
      baggage = first(headers['baggage']) ?? metaString(meta, 'baggage');
    }
    // An unsampled parent: nothing to record, nothing to pass on but what the body already carries.
    if (parent !== null && (parent.traceFlags & 1) === 0) return undefined;
    if (parent === null && !this.rootSampling) return undefined;
    const startedAt = performance.now();
    const startedAtMs = Date.now();
    const name = info.tool !== undefined ? `${info.method} ${info.tool}` : info.method;
    const ctx = parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
    const decision = this.recorder.decided.decide(ctx, parent?.traceId, name, SpanKind.SERVER, links ?? NO_LINKS);
    // The root sampler said no.
    if (decision === undefined) return undefined;
    // Hex digits and dashes only: quoted, it is its own JSON text. A recorded span's only flag is `sampled`.
    const meta_: [string, string][] = [['traceparent', `"00-${decision.traceId}-${decision.spanId}-01"`]];
    // The SDK's rule for the span's tracestate: the sampler's, else the parent's.
    const state = (decision.result.traceState ?? parent?.traceState)?.serialize();
    if (state) meta_.push(['tracestate', JSON.stringify(state)]);
    if (baggage !== undefined) meta_.push(['baggage', JSON.stringify(baggage)]);
    return new CallSpan(this.recorder, { name, parent: ctx, links, decision, startedAtMs, startedAt }, meta_, info);
  }

  /** Records the spans of calls that have ended, sends what is finished and stops. */
  shutdown(): Promise<void> {
    this.recorder.later.flush();
    return this.provider.shutdown();
  }
}
