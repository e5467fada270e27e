// The per-request `_meta` envelope of the 2026-07-28 (stateless) protocol:
// which revision a request claims, and whether its envelope is one the
// adapter can serve in front of a 2025-era stdio server.
import { LOG_LEVELS, MODERN_VERSION } from '../../lib/mesh-contracts.js';
import { isPlainObject, RpcCode } from './jsonrpc-message.js';

export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const CLIENT_INFO_META_KEY = 'io.modelcontextprotocol/clientInfo';
export const LOG_LEVEL_META_KEY = 'io.modelcontextprotocol/logLevel';

/** Request methods of the 2026-07-28 registry. */
export const MODERN_REQUEST_METHODS: ReadonlySet<string> = new Set([
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
    return {
      kind: 'rejected',
      code: RpcCode.UnsupportedProtocolVersion,
      message: `Unsupported protocol version: ${version}`,
      data: { supported: [MODERN_VERSION], requested: version },
    };
  }
  if (!(CLIENT_CAPABILITIES_META_KEY in meta)) return envelopeProblem(CLIENT_CAPABILITIES_META_KEY, 'missing');
  if (!isPlainObject(meta[CLIENT_CAPABILITIES_META_KEY])) return envelopeProblem(CLIENT_CAPABILITIES_META_KEY, 'expected an object');
  const info = meta[CLIENT_INFO_META_KEY];
  if (info !== undefined && !(isPlainObject(info) && typeof info['name'] === 'string' && typeof info['version'] === 'string')) {
    return envelopeProblem(CLIENT_INFO_META_KEY, 'expected an object with name and version');
  }
  const level = meta[LOG_LEVEL_META_KEY];
  if (level !== undefined && !(typeof level === 'string' && LOG_LEVEL_SET.has(level)))
    return envelopeProblem(LOG_LEVEL_META_KEY, 'expected a logging level');
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
