// A call's span is decided when the call starts and built after its answer
// has gone out (adapter/tracing.ts). What the start needs is the sampling
// decision and the ids: the server gets them in `_meta` and the latency
// histogram's exemplar names the trace, both before the answer. The SDK,
// though, takes a span's ids only from its provider's IdGenerator and its
// decision only from the provider's Sampler, both asked inside `startSpan`.
// This class is both, for the one provider the adapter has: at the start it
// asks the configured sampler and makes the ids with the SDK's own generator;
// while the span is built later it hands the SDK exactly those, so the span
// exported is the one the server and the exemplar were told about.

import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import { type IdGenerator, RandomIdGenerator, type Sampler, SamplingDecision, type SamplingResult } from '@opentelemetry/sdk-trace-base';

/** What was decided for a sampled span when its call started. */
export interface StartDecision {
  readonly traceId: string;
  readonly spanId: string;
  readonly result: SamplingResult;
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});

export class DecidedAtStart implements IdGenerator, Sampler {
  private readonly random = new RandomIdGenerator();
  /** Set only while `build` runs. */
  private current: StartDecision | undefined;

  constructor(private readonly sampler: Sampler) {}

  /**
   * The configured sampler's decision for a span under `context` (a remote
   * parent, or none), in `parentTraceId`'s trace or a new one; undefined
   * when the span is not to be recorded and sent.
   */
  decide(context: Context, parentTraceId: string | undefined, name: string, kind: SpanKind, links: Link[]): StartDecision | undefined {
    const traceId = parentTraceId ?? this.random.generateTraceId();
    // No attributes: the adapter's samplers take none into account, and the span gets its own when it is built.
    const result = this.sampler.shouldSample(context, traceId, name, kind, NO_ATTRIBUTES, links);
    if (result.decision !== SamplingDecision.RECORD_AND_SAMPLED) return undefined;
    return { traceId, spanId: this.random.generateSpanId(), result };
  }

  /** Runs `start` (one `startSpan` of this provider's tracer) with the SDK handed `decision`. */
  build<T>(decision: StartDecision, start: () => T): T {
    this.current = decision;
    try {
      return start();
    } finally {
      this.current = undefined;
    }
  }

  generateTraceId(): string {
    return this.current?.traceId ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.current?.spanId ?? this.random.generateSpanId();
  }

  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    // Outside `build` nothing starts spans on this provider; if something did, the configured sampler decides as usual.
    return this.current?.result ?? this.sampler.shouldSample(context, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `DecidedAtStart{${this.sampler.toString()}}`;
  }
}
