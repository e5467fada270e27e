// The authorization rules evaluated in the control plane, for list filtering:
// the same meaning as the DENY policies Envoy enforces on calls
// (control-plane/envoy/tool-authorization.ts), over the verified JWT payload
// jwt_authn hands on (`scope` already a list). Pure.
import type { AuthRule } from '../catalog/auth-schema.js';

export type ItemKind = 'tools' | 'prompts' | 'resources';

/** A claim value as jwt_authn's metadata carries it: a string, or a list (groups, the normalized scope). */
function has(value: unknown, wanted: string): boolean {
  if (typeof value === 'string') return value === wanted;
  if (Array.isArray(value)) return value.some((v) => v === wanted);
  return false;
}

export function ruleApplies(rule: AuthRule, payload: Readonly<Record<string, unknown>> | undefined): boolean {
  if (payload === undefined) return false;
  const w = rule.when;
  if (w?.sub && !w.sub.some((s) => payload['sub'] === s)) return false;
  for (const s of w?.scopes ?? []) if (!has(payload['scope'], s)) return false;
  for (const [claim, values] of Object.entries(w?.claims ?? {})) if (!values.some((v) => has(payload[claim], v))) return false;
  return true;
}

/** The names (or URIs) of `kind` a caller may use; `all` when a wildcard rule applies. */
export function allowedItems(
  rules: readonly AuthRule[],
  payload: Readonly<Record<string, unknown>> | undefined,
  kind: ItemKind,
): { readonly all: true } | { readonly all: false; readonly names: ReadonlySet<string> } {
  const names = new Set<string>();
  for (const rule of rules) {
    if (!ruleApplies(rule, payload)) continue;
    const items = rule[kind] ?? [];
    if (items.includes('*')) return { all: true };
    for (const i of items) names.add(i);
  }
  return { all: false, names };
}
