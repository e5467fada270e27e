// What a 2026-07-28 result must carry that a 2025-era stdio server does not
// write: the `server/discover` result built from the process's initialize
// result, and `resultType` (plus ttlMs/cacheScope on cacheable results)
// stamped into the server's own responses.
import { MODERN_VERSION } from '../../lib/mesh-contracts.js';
import type { ServerIdentity } from './initialize-result.js';
import { replaceTopLevelId, resultObjectStart } from './jsonrpc-ids.js';
import { isPlainObject, type JsonRpcId, RpcCode, type RpcResponse } from './jsonrpc-message.js';

export const SERVER_INFO_META_KEY = 'io.modelcontextprotocol/serverInfo';

const CACHEABLE_METHODS = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

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
export function toModernResponse(
  line: string,
  msg: RpcResponse,
  method: string,
  localIdJson: string,
  clientId: JsonRpcId,
  clientIdJson: string,
): string {
  if (msg.error !== undefined) {
    if (msg.error.code === -32002)
      return JSON.stringify({ jsonrpc: '2.0', id: clientId, error: { ...msg.error, code: RpcCode.InvalidParams } });
    return replaceTopLevelId(line, localIdJson, clientIdJson) ?? JSON.stringify({ jsonrpc: '2.0', id: clientId, error: msg.error });
  }
  const result = msg.result;
  if (!isPlainObject(result))
    return replaceTopLevelId(line, localIdJson, clientIdJson) ?? JSON.stringify({ jsonrpc: '2.0', id: clientId, result });
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
