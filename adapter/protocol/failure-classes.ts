// How a call ends, and what Envoy may do about it.
//
// THE RETRYABLE CONTRACT between the adapter and the control plane's retry
// policies (control-plane/envoy/routes.ts, RETRYABLE_HEADER):
//
//   * Retryable: HTTP 503 with header `x-mcpmesh-retryable: true` and a
//     JSON-RPC error body. Envoy retries it on another replica
//     (`retry_on: retriable-headers`, and `5xx` on routes of safe tools), with
//     the previous-hosts predicate. Sent only when sending the call again cannot
//     run it twice:
//       - overload: the bounded queue is full, or the call waited in it past
//         the queue timeout (never written to a process);
//       - unavailable: no ready process, or the adapter is draining (never
//         written to a process);
//       - crashed: the process died or hung with the call in flight, and the
//         call is replay-safe (any method but tools/call, or a tool whose
//         annotations say readOnlyHint or idempotentHint).
//   * Not retryable, the server's own answer: HTTP 200 with a result that has
//     `isError: true` (tool error) or with a JSON-RPC error. Never marked.
//   * Not retryable, adapter answers without the header:
//       - crashed with a call that is not replay-safe: HTTP 503 and no header
//         (the tool may have run; only routes of safe tools retry on 5xx);
//       - timeout: HTTP 504 (the adapter's call timeout; the tool may still run).
//       - query of death (`poisoned`): HTTP 422 and no header. The request
//         itself is the fault: its answer overflowed --max-line-bytes, the
//         process died or hung on its own with only this call in flight (or
//         with a call that struck before on this replica, or that is already
//         Envoy's retry), or it matches a request that did so before. A 4xx,
//         because Envoy retries 5xx on routes of safe tools and outlier
//         detection counts 5xx: a query of death must cost one process on
//         one replica, not one on each, and must not eject the replica.
//   * Once an SSE response has started (status 200 sent, events streamed), a
//     failure can only end the stream with a JSON-RPC error event: Envoy cannot
//     retry it, whatever the class.

/** Metric label `outcome` of a finished call. */
export type Outcome = 'ok' | 'tool_error' | 'jsonrpc_error' | 'timeout' | 'crashed' | 'overload' | 'unavailable' | 'cancelled' | 'poisoned';

export type FailureKind = 'overload' | 'unavailable' | 'crashed' | 'timeout' | 'poisoned';

export interface Failure {
  readonly kind: FailureKind;
  /** Human-readable cause, sent in the JSON-RPC error message. */
  readonly detail: string;
  /** Whether the request reached a process (written to its stdin). */
  readonly written: boolean;
}

export interface FailureAnswer {
  readonly status: number;
  readonly retryable: boolean;
  readonly code: number;
  readonly message: string;
}

/**
 * The HTTP answer for a failure. `replaySafe` says whether running the call
 * twice is harmless (see the contract above).
 */
export function answerFor(failure: Failure, replaySafe: boolean): FailureAnswer {
  switch (failure.kind) {
    case 'overload':
      return { status: 503, retryable: true, code: -32000, message: `Server overloaded: ${failure.detail}` };
    case 'unavailable':
      return { status: 503, retryable: true, code: -32000, message: `Server unavailable: ${failure.detail}` };
    case 'crashed': {
      const retryable = !failure.written || replaySafe;
      return { status: 503, retryable, code: -32603, message: `Server process failed during the call: ${failure.detail}` };
    }
    case 'timeout':
      return { status: 504, retryable: false, code: -32001, message: `Request timed out: ${failure.detail}` };
    case 'poisoned':
      return {
        status: 422,
        retryable: false,
        code: -32603,
        message: `Request not served (query of death, not retried on other replicas): ${failure.detail}`,
      };
  }
}

/** Outcome of a JSON-RPC response the server sent. */
export function responseOutcome(method: string, result: unknown, hasError: boolean): Outcome {
  if (hasError) return 'jsonrpc_error';
  if (method === 'tools/call' && typeof result === 'object' && result !== null && (result as { isError?: unknown }).isError === true)
    return 'tool_error';
  return 'ok';
}
