// Call spans recorded after their answers have been handed to the socket.
// With one client the adapter otherwise builds the SDK span while Envoy and
// the agent wait for the answer, and on the path that span runs with cold
// caches (bench/RESULTS.md): recorded in the event loop's check phase, it
// runs while they carry the answer. Every span waiting here is recorded
// before the tracer stops (`flush`), so none is lost at shutdown.

import { globalErrorHandler } from '@opentelemetry/core';

export interface DeferredSpan {
  /** Builds, attributes and ends the SDK span, with the call's own times. */
  record(): void;
}

export class DeferredSpans {
  private pending: DeferredSpan[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly run = (): void => {
    this.scheduled = undefined;
    this.flush();
  };

  /** Records `span` once the current I/O callbacks have run. */
  add(span: DeferredSpan): void {
    this.pending.push(span);
    this.scheduled ??= setImmediate(this.run);
  }

  /** Records every waiting span now. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const spans = this.pending;
    if (spans.length === 0) return;
    this.pending = [];
    for (const s of spans) {
      // One span the SDK refuses must not take the others with it, nor throw out of the event loop.
      try {
        s.record();
      } catch (err) {
        globalErrorHandler(err as Error);
      }
    }
  }
}
