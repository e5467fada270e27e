// Checks on the HTTP envelope of an MCP request before its body is read:
// Origin (DNS rebinding), Accept and Content-Type, as the Streamable HTTP
// transport specifies them.

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface OriginPolicy {
  /** Exact origins allowed besides localhost ones, e.g. "https://app.example"; "*" allows any. */
  readonly allowed: readonly string[];
}

/**
 * Whether a request with this Origin header may proceed. Browsers send Origin
 * on cross-site requests; a page on an attacker's domain that resolves to
 * 127.0.0.1 (DNS rebinding) must not reach a local MCP server. Requests with
 * no Origin (agents, curl, Envoy health checks) are not from a browser page.
 */
export function originAllowed(origin: string | undefined, policy: OriginPolicy): boolean {
  if (origin === undefined || origin === '') return true;
  if (policy.allowed.includes('*') || policy.allowed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOCAL_HOSTNAMES.has(url.hostname);
}

export interface AcceptView {
  readonly json: boolean;
  readonly sse: boolean;
}

/** What a client's Accept header allows; a missing header or a wildcard allows both. */
export function readAccept(accept: string | undefined): AcceptView {
  if (accept === undefined || accept === '') return { json: true, sse: true };
  const a = accept.toLowerCase();
  const any = a.includes('*/*');
  return {
    json: any || a.includes('application/json') || a.includes('application/*'),
    sse: any || a.includes('text/event-stream') || a.includes('text/*'),
  };
}

/** Whether a Content-Type names JSON (parameters such as charset are ignored). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const essence = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return essence === 'application/json';
}
