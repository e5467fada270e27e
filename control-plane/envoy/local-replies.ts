// What Envoy answers when it answers a request itself (a local reply), for the
// statuses an MCP client must be able to read: a JSON-RPC error body instead of
// Envoy's plain text. A client's SDK parses every error answer of an MCP
// endpoint as JSON-RPC; a plain-text body turns a clear refusal (too large) into
// a parse failure the agent cannot explain.
//
// One rule per status, matched on the local reply's status code only. Local
// replies are what Envoy itself generates (its limits, its direct responses,
// filters that refuse); an upstream's answer never passes through these rules,
// so an adapter's own 413 keeps its own id and text. A direct response with the
// same status is rewritten too, so a rule must not share a status with a route
// that answers directly with a body of its own (the header-mismatch routes
// answer 400 and keep it).

/** The JSON-RPC error code the adapter answers its own limits with (RpcCode.ServerError). */
const LIMIT_ERROR = -32000;

export interface LocalReplyRule {
  /** The status of Envoy's local reply this rule rewrites, and answers with. */
  readonly status: number;
  /** The JSON-RPC error code of the body. */
  readonly code: number;
  /** The error message; plain text, no `%` substitutions. */
  readonly message: string;
}

/**
 * Request bodies are buffered whole for their route keys (the virtual host's
 * per_request_buffer_limit_bytes): over that, Envoy answers 413 before any
 * upstream sees the request.
 */
export function defaultLocalReplyRules(maxBodyBytes: number): LocalReplyRule[] {
  return [
    {
      status: 413,
      code: LIMIT_ERROR,
      message: `Payload Too Large: Request body must not exceed ${maxBodyBytes} bytes`,
    },
  ];
}

/** The body Envoy sends: a JSON-RPC error with id null (a local reply cannot echo the request's id). */
export function localReplyBody(rule: LocalReplyRule): string {
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: rule.code, message: rule.message } });
}

function mapper(rule: LocalReplyRule): object {
  return {
    filter: {
      status_code_filter: {
        comparison: { op: 'EQ', value: { default_value: rule.status, runtime_key: `mcpmesh.local_reply.${rule.status}` } },
      },
    },
    status_code: { value: rule.status },
    // A format string: `%` would start a command, so the body is written with `%%`.
    body_format_override: {
      text_format_source: { inline_string: localReplyBody(rule).replaceAll('%', '%%') },
      content_type: 'application/json',
    },
  };
}

/**
 * The HCM's local_reply_config: one mapper per rule, first match wins;
 * `before`: mappers of their own that go first (agent-auth.ts's 401 and 403,
 * which need substitutions and headers); `after`: mappers of their own on
 * statuses no rule has, last (rate-limits.ts's 429, whose body carries the
 * request's id).
 */
export function localReplyConfig(rules: readonly LocalReplyRule[], before: readonly object[] = [], after: readonly object[] = []): object {
  const statuses = new Set(rules.map((r) => r.status));
  if (statuses.size !== rules.length) throw new Error('local reply rules: one rule per status');
  return { mappers: [...before, ...rules.map(mapper), ...after] };
}
