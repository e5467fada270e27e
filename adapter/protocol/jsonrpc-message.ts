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
  if (!isPlainObject(value))
    return {
      kind: 'invalid',
      reason: Array.isArray(value) ? 'JSON-RPC batches are not supported' : 'a JSON-RPC message must be an object',
      id: null,
    };
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
  if (hasResult === (errorRaw !== undefined))
    return { kind: 'invalid', reason: 'a message needs a method, or exactly one of result and error', id };
  if (idRaw !== null && id === null) return { kind: 'invalid', reason: 'id must be a string or a number', id: null };
  if (hasResult) return { kind: 'response', id, result: value['result'], error: undefined };
  if (
    !isPlainObject(errorRaw) ||
    typeof errorRaw['code'] !== 'number' ||
    !Number.isInteger(errorRaw['code']) ||
    typeof errorRaw['message'] !== 'string'
  ) {
    return { kind: 'invalid', reason: 'error must be an object with an integer code and a message', id };
  }
  const error: RpcErrorObject =
    'data' in errorRaw
      ? { code: errorRaw['code'], message: errorRaw['message'], data: errorRaw['data'] }
      : { code: errorRaw['code'], message: errorRaw['message'] };
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

const REQUEST_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESULT_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'result']);
const ERROR_MEMBERS: ReadonlySet<string> = new Set(['jsonrpc', 'id', 'error']);
const RELATED_TASK_META_KEY = 'io.modelcontextprotocol/related-task';

/**
 * What makes a client's message one that a stdio server built on the MCP
 * SDKs would drop without an answer (their JSON-RPC schemas are strict
 * objects): members JSON-RPC 2.0 does not define, a non-integer id,
 * `params._meta` that is not an object or a progress token that is neither
 * a string nor an integer, a result that is not an object. Undefined when
 * the message is fine; `readMessage` checks the rest. Reads only the top
 * level, params._meta and the result's type: constant work.
 */
export function strictProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return undefined;
  const isCall = 'method' in value;
  const allowed = isCall ? REQUEST_MEMBERS : 'error' in value ? ERROR_MEMBERS : RESULT_MEMBERS;
  let members = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (++members > allowed.size || !allowed.has(key))
      return `unknown member ${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)} (a JSON-RPC 2.0 ${isCall ? 'request has only jsonrpc, id, method and params' : 'response has only jsonrpc, id and result or error'})`;
  }
  const id = value['id'];
  if (typeof id === 'number' && !Number.isInteger(id)) return 'id must be a string or an integer';
  if (isCall) {
    const params = value['params'];
    if (!isPlainObject(params) || !('_meta' in params)) return undefined;
    const meta = params['_meta'];
    if (!isPlainObject(meta)) return 'params._meta must be an object';
    const token = meta['progressToken'];
    if (token !== undefined && typeof token !== 'string' && !(typeof token === 'number' && Number.isInteger(token)))
      return 'params._meta.progressToken must be a string or an integer';
    const task = meta[RELATED_TASK_META_KEY];
    if (task !== undefined && !(isPlainObject(task) && typeof task['taskId'] === 'string'))
      return `params._meta["${RELATED_TASK_META_KEY}"] must be an object with a taskId string`;
    return undefined;
  }
  if ('result' in value && !isPlainObject(value['result'])) return 'result must be an object';
  return undefined;
}
