// The server side of `Mcp-Param-*` headers (lib/mcp-param-headers.ts): a
// 2026-07-28 tools/call whose arguments carry a declared value must carry the
// matching header, equal to it. A missing, malformed or different header is
// 400 with JSON-RPC -32020 (HeaderMismatch), as for Mcp-Method and Mcp-Name:
// proxies route on these headers, so a request whose headers say one thing
// and whose body another must not run.
import type { IncomingHttpHeaders } from 'node:http';
import { bodyParamText, type ParamHeader, paramHeaderName } from '../../lib/mcp-param-headers.js';
import { decodeHeaderValue, type HeaderRejection, mismatch } from './mcp-headers.js';

const DECIMAL = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export function checkParamHeaders(
  declared: readonly ParamHeader[],
  args: unknown,
  headers: IncomingHttpHeaders,
): HeaderRejection | undefined {
  for (const p of declared) {
    const body = bodyParamText(args, p);
    if (body === undefined) continue;
    const name = paramHeaderName(p);
    const where = `arguments.${p.path.join('.')}`;
    const raw = headers[name];
    if (raw === undefined)
      return mismatch('(missing)', body, `the body carries ${where}=${JSON.stringify(body)} but the Mcp-Param-${p.name} header is absent`);
    const value = (Array.isArray(raw) ? raw.join(',') : raw).replace(/^[ \t]+|[ \t]+$/g, '');
    const decoded = decodeHeaderValue(value);
    if (decoded === undefined) return mismatch(value, body, `the Mcp-Param-${p.name} header carries an invalid Base64 sentinel value`);
    const equal = p.type === 'integer' && DECIMAL.test(decoded) ? Number(decoded) === Number(body) : decoded === body;
    if (!equal)
      return mismatch(
        value,
        body,
        `the body carries ${where}=${JSON.stringify(body)} but the Mcp-Param-${p.name} header is ${JSON.stringify(decoded)}`,
      );
  }
  return undefined;
}
