// What a stdio server says of itself in its initialize result: the protocol
// version it chose and its identity (capabilities, serverInfo, instructions),
// which the adapter answers from for every client, since clients never see
// the process's own handshake.
import { LEGACY_VERSIONS } from '../../lib/mesh-contracts.js';
import { isPlainObject, type RpcResponse } from './jsonrpc-message.js';

export interface ServerIdentity {
  readonly capabilities: Record<string, unknown>;
  readonly serverInfo: Record<string, unknown>;
  readonly instructions: string | undefined;
}

export type InitializeResult =
  | { readonly ok: true; readonly protocolVersion: string; readonly identity: ServerIdentity }
  /** Why the process cannot serve: it is killed and restarted. */
  | { readonly ok: false; readonly problem: string };

export function readInitializeResult(res: RpcResponse): InitializeResult {
  const problem = (text: string): InitializeResult => ({ ok: false, problem: text });
  if (res.error !== undefined) return problem(`initialize failed: ${res.error.message} (code ${res.error.code})`);
  const r = res.result;
  if (!isPlainObject(r)) return problem('initialize result is not an object');
  const version = r['protocolVersion'];
  if (typeof version !== 'string' || !(LEGACY_VERSIONS as readonly string[]).includes(version)) {
    return problem(
      `initialize result names protocol version ${JSON.stringify(version)}, which the adapter does not speak (it speaks ${LEGACY_VERSIONS.join(', ')})`,
    );
  }
  const capabilities = r['capabilities'];
  const serverInfo = r['serverInfo'];
  if (!isPlainObject(capabilities) || !isPlainObject(serverInfo)) return problem('initialize result lacks capabilities or serverInfo');
  const instructions = r['instructions'];
  return {
    ok: true,
    protocolVersion: version,
    identity: { capabilities, serverInfo, instructions: typeof instructions === 'string' ? instructions : undefined },
  };
}
