// The 2026-07-28 (stateless) protocol in front of 2025-era stdio servers:
// reading the per-request `_meta` envelope, answering `server/discover` from
// the pooled process's initialize result, and stamping what a 2026 result must
// carry (resultType, and ttlMs/cacheScope on cacheable results) that a
// 2025-era server does not write.
import { LOG_LEVELS, MODERN_VERSION } from '../../lib/mesh-contracts.js';
import { resultObjectStart, replaceTopLevelId } from './jsonrpc-ids.js';
import { isPlainObject, RpcCode, type JsonRpcId, type RpcResponse } from './jsonrpc-message.js';


export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const CLIENT_INFO_META_KEY = 'io.modelcontextprotocol/clientInfo';
export const LOG_LEVEL_META_KEY = 'io.modelcontextprotocol/logLevel';
export const SERVER_INFO_META_KEY = 'io.modelcontextprotocol/serverInfo';

/** Request methods of the 2026-07-28 registry. */
const MODERN_REQUEST_METHODS = new Set([
  'tools/call',
  'tools/list',
  'prompts/get',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
  'server/discover',
  'subscriptions/listen',
]);

const CACHEABLE_METHODS = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);
const LOG_LEVEL_SET: ReadonlySet<string> = new Set(LOG_LEVELS);

export function isModernVersion(version: string): boolean {
  return version >= MODERN_VERSION;
}

export function isModernRequestMethod(method: string): boolean {
  return MODERN_REQUEST_METHODS.has(method);
}

export type Envelope =
  | { readonly kind: 'none' }
  /** A claim naming a 2025-era version: served as 2025-era traffic. */
  | { readonly kind: 'legacy' }
  | { readonly kind: 'modern'; readonly version: string; readonly logLevel: string | undefined }
  | { readonly kind: 'rejected'; readonly code: number; readonly message: string; readonly data: unknown };

/** Reads the per-request envelope of a message's params. */
export function readEnvelope(params: Record<string, unknown> | undefined): Envelope {
  const meta = params?.['_meta'];
  if (!isPlainObject(meta) || !(PROTOCOL_VERSION_META_KEY in meta)) return { kind: 'none' };
  const version = meta[PROTOCOL_VERSION_META_KEY];
  if (typeof version !== 'string') {
    return envelopeProblem(PROTOCOL_VERSION_META_KEY, 'expected a protocol version string');
  }
  if (!isModernVersion(version)) return { kind: 'legacy' };
  if (version !== MODERN_VERSION) {
    return { kind: 'rejected', code: RpcCode.UnsupportedProtocolVersion, message: `Unsupported protocol version: ${version}`, data: { supported: [MODERN_VERSION], requested: version } };
  }
  if (!(CLIENT_CAPABILITIES_META_KEY in meta)) return envelopeProblem(CLIENT_CAPABILITIES_META_KEY, 'missing');
  if (!isPlainObject(meta[CLIENT_CAPABILITIES_META_KEY])) return envelopeProblem(CLIENT_CAPABILITIES_META_KEY, 'expected an object');
  const info = meta[CLIENT_INFO_META_KEY];
  if (info !== undefined && !(isPlainObject(info) && typeof info['name'] === 'string' && typeof info['version'] === 'string')) {
    return envelopeProblem(CLIENT_INFO_META_KEY, 'expected an object with name and version');
  }
  const level = meta[LOG_LEVEL_META_KEY];
  if (level !== undefined && !(typeof level === 'string' && LOG_LEVEL_SET.has(level))) return envelopeProblem(LOG_LEVEL_META_KEY, 'expected a logging level');
  return { kind: 'modern', version, logLevel: level as string | undefined };
}

function envelopeProblem(key: string, problem: string): Envelope {
  return {
    kind: 'rejected',
    code: RpcCode.InvalidParams,
    message: `Invalid _meta envelope for protocol revision ${MODERN_VERSION}: ${key}: ${problem}`,
    data: { envelope: { key, problem } },
  };
}

export interface ServerIdentity {
  readonly capabilities: Record<string, unknown>;
  readonly serverInfo: Record<string, unknown>;
  readonly instructions: string | undefined;
}

/** The `server/discover` result for a stdio server, from its initialize result. */
export function discoverResult(server: ServerIdentity): Record<string, unknown> {
  // Tasks are 2025-11-25 vocabulary that the 2026 revision deleted.
  const { tasks: _tasks, ...capabilities } = server.capabilities;
  return {
    resultType: 'complete',
    supportedVersions: [MODERN_VERSION],
    capabilities,
    ...(server.instructions !== undefined ? { instructions: server.instructions } : {}),
    ttlMs: 0,
    cacheScope: 'private',
    _meta: { [SERVER_INFO_META_KEY]: server.serverInfo },
  };
}

function validTtl(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/**
 * A 2025-era server's response, rewritten for a 2026-07-28 client: the
 * client's id, `resultType`, cache fields on cacheable results, and the one
 * error code the revision renamed (-32002 resource-not-found → -32602).
 */
export function toModernResponse(line: string, msg: RpcResponse, method: string, localIdJson: string, clientId: JsonRpcId, clientIdJson: string): string {
  if (msg.error !== undefined) {
    if (msg.error.code === -32002) return JSON.stringify({ jsonrpc: '2.0', id: clientId, error: { ...msg.error, code: RpcCode.InvalidParams } });
    return replaceTopLevelId(line, localIdJson, clientIdJson) ?? JSON.stringify({ jsonrpc: '2.0', id: clientId, error: msg.error });
  }
  const result = msg.result;
  if (!isPlainObject(result)) return replaceTopLevelId(line, localIdJson, clientIdJson) ?? JSON.stringify({ jsonrpc: '2.0', id: clientId, result });
  const additions: string[] = [];
  let needsRebuild = false;
  const resultType = result['resultType'];
  if (resultType === undefined) additions.push('"resultType":"complete"');
  if (CACHEABLE_METHODS.has(method) && (resultType === undefined || resultType === 'complete')) {
    if (!validTtl(result['ttlMs'])) {
      if ('ttlMs' in result) needsRebuild = true;
      else additions.push('"ttlMs":0');
    }
    const scope = result['cacheScope'];
    if (scope !== 'public' && scope !== 'private') {
      if ('cacheScope' in result) needsRebuild = true;
      else additions.push('"cacheScope":"private"');
    }
  }
  if (!needsRebuild) {
    let text = line;
    if (additions.length > 0) {
      const at = resultObjectStart(line, localIdJson);
      if (at < 0) needsRebuild = true;
      else {
        const empty = line.charCodeAt(at + 1) === 125;
        text = line.slice(0, at + 1) + additions.join(',') + (empty ? '' : ',') + line.slice(at + 1);
      }
    }
    if (!needsRebuild) {
      const out = replaceTopLevelId(text, localIdJson, clientIdJson);
      if (out !== undefined) return out;
    }
  }
  const stamped: Record<string, unknown> = { ...result };
  if (stamped['resultType'] === undefined) stamped['resultType'] = 'complete';
  if (CACHEABLE_METHODS.has(method) && stamped['resultType'] === 'complete') {
    if (!validTtl(stamped['ttlMs'])) stamped['ttlMs'] = 0;
    if (stamped['cacheScope'] !== 'public' && stamped['cacheScope'] !== 'private') stamped['cacheScope'] = 'private';
  }
  return JSON.stringify({ jsonrpc: '2.0', id: clientId, result: stamped });
}
