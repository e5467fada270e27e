// `Mcp-Param-*` headers (SEP-2243, protocol 2026-07-28): a tool marks
// arguments in its inputSchema with `"x-mcp-header": "Name"`, and a client
// mirrors each such argument of a tools/call in an `Mcp-Param-Name` header, so
// that proxies can route on it without reading the body. Both the adapter (the
// server side: a header that disagrees with the body is refused) and the
// control plane (routes on a verified value) read the declarations the same
// way, from the tool's tools/list entry.
//
// The rules, as the 2026-07-28 transport and its SDKs have them:
// - a declaration is on a property reached from the root through `properties`
//   only, names an RFC 9110 token, unique case-insensitively, on a `string`,
//   `integer` or `boolean` property; a tool with any other use of
//   `x-mcp-header` is invalid, and its headers are not checked;
// - when the body has a value (not absent, not null) the header must be there
//   and equal it: strings as they are, integers as decimals (compared as
//   numbers), booleans as `true`/`false`; values that are not plain ASCII
//   field values travel as `=?base64?<UTF-8 as Base64>?=`;
// - when the body has no value, the header is ignored.

export const PARAM_HEADER_PREFIX = 'mcp-param-';
const X_MCP_HEADER = 'x-mcp-header';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TYPES = new Set(['string', 'integer', 'boolean']);
/** Declarations per tool: more is not a routing need, and bounds the work a tools/list entry can cause. */
const MAX_DECLARATIONS = 32;
const MAX_DEPTH = 16;

export interface ParamHeader {
  /** As declared (case kept); HTTP header names compare case-insensitively. */
  readonly name: string;
  /** The argument's path under `params.arguments`. */
  readonly path: readonly string[];
  readonly type: 'string' | 'integer' | 'boolean';
}

/** The lower-case header name of a declaration. */
export function paramHeaderName(p: Pick<ParamHeader, 'name'>): string {
  return `${PARAM_HEADER_PREFIX}${p.name.toLowerCase()}`;
}

const OTHER_SUBSCHEMAS = [
  'items',
  'prefixItems',
  'contains',
  'additionalProperties',
  'unevaluatedProperties',
  'unevaluatedItems',
  'propertyNames',
  'patternProperties',
  'dependentSchemas',
  'oneOf',
  'anyOf',
  'allOf',
  'not',
  'if',
  'then',
  'else',
  '$defs',
  'definitions',
];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `x-mcp-header` occurs anywhere under `node` (where it may not). */
function mentionsHeader(node: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH * 2 || node === null || typeof node !== 'object') return false;
  if (!Array.isArray(node) && X_MCP_HEADER in node) return true;
  for (const v of Object.values(node)) if (mentionsHeader(v, depth + 1)) return true;
  return false;
}

export type ParamScan =
  | { readonly kind: 'ok'; readonly headers: readonly ParamHeader[] }
  | { readonly kind: 'invalid'; readonly reason: string };

/** The `x-mcp-header` declarations of a tool's inputSchema. */
export function scanParamHeaders(inputSchema: unknown): ParamScan {
  const out: ParamHeader[] = [];
  const seen = new Set<string>();
  const visit = (node: unknown, path: string[]): string | undefined => {
    if (!isObject(node)) return undefined;
    if (path.length > MAX_DEPTH) return mentionsHeader(node, 0) ? `declarations deeper than ${MAX_DEPTH} properties` : undefined;
    if (X_MCP_HEADER in node) {
      const raw = node[X_MCP_HEADER];
      const where = path.length === 0 ? '<root>' : path.join('.');
      if (path.length === 0) return `${where}: x-mcp-header is only permitted on properties`;
      if (typeof raw !== 'string' || !TOKEN.test(raw)) return `${where}: x-mcp-header must be a non-empty RFC 9110 token`;
      const type = node['type'];
      if (typeof type !== 'string' || !TYPES.has(type))
        return `${where}: x-mcp-header is only permitted on string, integer or boolean properties`;
      const lower = raw.toLowerCase();
      if (seen.has(lower)) return `x-mcp-header '${raw}' is declared twice`;
      seen.add(lower);
      if (out.length >= MAX_DECLARATIONS) return `more than ${MAX_DECLARATIONS} x-mcp-header declarations`;
      out.push({ name: raw, path, type: type as ParamHeader['type'] });
    }
    const props = node['properties'];
    if (isObject(props))
      for (const [k, child] of Object.entries(props)) {
        const fault = visit(child, [...path, k]);
        if (fault !== undefined) return fault;
      }
    for (const k of OTHER_SUBSCHEMAS)
      if (k in node && mentionsHeader(node[k], 0)) return `x-mcp-header under ${k} (only a chain of properties may lead to one)`;
    return undefined;
  };
  const fault = visit(inputSchema, []);
  return fault === undefined ? { kind: 'ok', headers: out } : { kind: 'invalid', reason: fault };
}

/** The argument at a declaration's path, as the header text it must equal; undefined when the body has none. */
export function bodyParamText(args: unknown, p: ParamHeader): string | undefined {
  let node: unknown = args;
  for (const key of p.path) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  if (typeof node === 'string') return node;
  if (typeof node === 'boolean') return node ? 'true' : 'false';
  if (typeof node === 'number' && Number.isFinite(node) && (!Number.isInteger(node) || Number.isSafeInteger(node))) return String(node);
  return undefined;
}

const SENTINEL_PREFIX = '=?base64?';

/** The header forms a value may arrive in: as is (when that is a plain field value), and the Base64 form. */
export function paramHeaderForms(value: string): string[] {
  const b64 = `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}?=`;
  const plain = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !value.startsWith(SENTINEL_PREFIX);
  return plain ? [value, b64] : [b64];
}
