// The 2026-07-28 standard request headers (SEP-2243): MCP-Protocol-Version,
// Mcp-Method and Mcp-Name mirror the body so that Envoy can route on them; a
// server must reject a request whose headers disagree with its body, with
// JSON-RPC error -32020 (HeaderMismatch) on HTTP 400, as the spec and the
// MCP SDKs do. Without this check a client could be routed (and policed) as
// one tool while calling another.
import type { IncomingHttpHeaders } from 'node:http';
import { RpcCode } from './jsonrpc-message.js';

export interface StandardHeaders {
  readonly protocolVersion: string | undefined;
  readonly method: string | undefined;
  readonly name: string | undefined;
}

export interface HeaderRejection {
  readonly status: 400;
  readonly code: number;
  readonly message: string;
  readonly data: { readonly mismatch: { readonly header: string; readonly body: string } };
}

function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function single(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return trimOws(Array.isArray(value) ? value.join(',') : value);
}

export function readStandardHeaders(headers: IncomingHttpHeaders): StandardHeaders {
  return {
    protocolVersion: single(headers['mcp-protocol-version']),
    method: single(headers['mcp-method']),
    name: single(headers['mcp-name']),
  };
}

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A header value, decoded from the `=?base64?…?=` form clients use for values
 * that are not plain ASCII; undefined when that form is malformed.
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (
    !(
      value.startsWith(SENTINEL_PREFIX) &&
      value.endsWith(SENTINEL_SUFFIX) &&
      value.length >= SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length
    )
  )
    return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  try {
    return text.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Which body field Mcp-Name mirrors, per method. */
const NAME_SOURCE: Readonly<Record<string, string>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

/** The 400 for a header that disagrees with the body: what each said, and why. */
export function mismatch(header: string, body: string, why: string): HeaderRejection {
  return {
    status: 400,
    code: RpcCode.HeaderMismatch,
    message: `Bad Request: the request headers and body disagree: ${why}`,
    data: { mismatch: { header, body } },
  };
}

/**
 * Checks a 2026-07-28 message against its standard headers. `claimedVersion`
 * is the protocol version its `_meta` envelope names.
 */
export function checkStandardHeaders(
  kind: 'request' | 'notification',
  method: string,
  params: Record<string, unknown> | undefined,
  claimedVersion: string,
  headers: StandardHeaders,
): HeaderRejection | undefined {
  if (headers.protocolVersion !== undefined && headers.protocolVersion !== claimedVersion) {
    return mismatch(
      headers.protocolVersion,
      claimedVersion,
      `the body envelope names protocol version ${claimedVersion} but the MCP-Protocol-Version header names ${headers.protocolVersion}`,
    );
  }
  if (headers.method !== undefined && headers.method !== method) {
    return mismatch(headers.method, method, `the body names method ${method} but the Mcp-Method header names ${headers.method}`);
  }
  // Presence is required on requests only; notifications carry no routing need.
  if (kind === 'notification') return undefined;
  if (headers.protocolVersion === undefined)
    return mismatch(
      '(missing)',
      claimedVersion,
      `the body envelope names protocol version ${claimedVersion} but the required MCP-Protocol-Version header is absent`,
    );
  if (headers.method === undefined)
    return mismatch('(missing)', method, `the body names method ${method} but the required Mcp-Method header is absent`);
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  if (field === undefined) return undefined;
  const raw = params?.[field];
  const bodyValue = typeof raw === 'string' ? raw : undefined;
  if (headers.name === undefined) {
    return bodyValue === undefined
      ? undefined
      : mismatch('(missing)', bodyValue, `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`);
  }
  const decoded = decodeHeaderValue(headers.name);
  if (decoded === undefined) return mismatch(headers.name, bodyValue ?? '', 'the Mcp-Name header carries an invalid Base64 sentinel value');
  if (bodyValue !== undefined && decoded !== bodyValue) {
    return mismatch(headers.name, bodyValue, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  }
  return undefined;
}
