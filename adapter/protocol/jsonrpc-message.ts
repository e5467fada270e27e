// Reads a parsed JSON value as one JSON-RPC 2.0 message, checking exactly what
// routing needs (kind, id, method) and nothing deeper: params and results pass
// through untouched, so the hot path never walks them.

/** MCP forbids null ids on requests; responses to unreadable requests carry null. */
export type JsonRpcId = string | number;

export interface RpcRequest {
  readonly kind: 'request';
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
}

export interface RpcNotification {
  readonly kind: 'notification';
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
}

export interface RpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: unknown;
}

export interface RpcResponse {
  readonly kind: 'response';
  readonly id: JsonRpcId | null;
  /** Present on success (may be any JSON value). */
  readonly result: unknown;
  readonly error: RpcErrorObject | undefined;
}

export interface RpcInvalid {
  readonly kind: 'invalid';
  readonly reason: string;
  /** The id, when one could be read, so the error answer can echo it. */
  readonly id: JsonRpcId | null;
}

export type RpcMessage = RpcRequest | RpcNotification | RpcResponse;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

export function readMessage(value: unknown): RpcMessage | RpcInvalid {
  if (!isPlainObject(value)) return { kind: 'invalid', reason: Array.isArray(value) ? 'JSON-RPC batches are not supported' : 'a JSON-RPC message must be an object', id: null };
  const idRaw = value['id'];
  const id = isId(idRaw) ? idRaw : null;
  if (value['jsonrpc'] !== '2.0') return { kind: 'invalid', reason: 'jsonrpc must be "2.0"', id };
  const method = value['method'];
  if (method !== undefined) {
    if (typeof method !== 'string' || method.length === 0) return { kind: 'invalid', reason: 'method must be a non-empty string', id };
    const params = value['params'];
    if (params !== undefined && !isPlainObject(params)) return { kind: 'invalid', reason: 'params must be an object', id };
    if (!('id' in value)) return { kind: 'notification', method, params };
    if (id === null) return { kind: 'invalid', reason: 'id must be a string or a number', id: null };
    return { kind: 'request', id, method, params };
  }
  const hasResult = 'result' in value;
  const errorRaw = value['error'];
  if (hasResult === (errorRaw !== undefined)) return { kind: 'invalid', reason: 'a message needs a method, or exactly one of result and error', id };
  if (idRaw !== null && id === null) return { kind: 'invalid', reason: 'id must be a string or a number', id: null };
  if (hasResult) return { kind: 'response', id, result: value['result'], error: undefined };
  if (!isPlainObject(errorRaw) || typeof errorRaw['code'] !== 'number' || !Number.isInteger(errorRaw['code']) || typeof errorRaw['message'] !== 'string') {
    return { kind: 'invalid', reason: 'error must be an object with an integer code and a message', id };
  }
  const error: RpcErrorObject = 'data' in errorRaw ? { code: errorRaw['code'], message: errorRaw['message'], data: errorRaw['data'] } : { code: errorRaw['code'], message: errorRaw['message'] };
  return { kind: 'response', id, result: undefined, error };
}

/** JSON-RPC and MCP error codes the adapter itself answers with. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Generic server error: the transport-level answers of the MCP SDKs use it. */
  ServerError: -32000,
  SessionNotFound: -32001,
  /** 2026-07-28: HTTP headers disagree with the body (SEP-2243), answered with HTTP 400. */
  HeaderMismatch: -32020,
  UnsupportedProtocolVersion: -32022,
} as const;

export function errorText(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}
