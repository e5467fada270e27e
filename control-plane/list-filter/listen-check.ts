// The resource rules on a 2026-07-28 `subscriptions/listen` request: every
// URI of its `notifications.resourceSubscriptions` must be one the caller may
// read, as `resources/read` and `resources/subscribe` are checked by Envoy's
// RBAC (control-plane/envoy/tool-authorization.ts). RBAC cannot look inside
// a list in the body, so the control plane's ExternalProcessor reads the
// request (list-filter-service.ts) and asks this. Pure.
import type { AuthRule } from '../catalog/auth-schema.js';
import { allowedItems } from './rule-match.js';

export type ListenVerdict = { readonly ok: true } | { readonly ok: false; readonly uri: string };

/**
 * The first URI the caller may not subscribe to, if any. A body that is not a
 * listen request, or names no URIs, passes: the adapter validates the rest.
 */
export function listenVerdict(
  message: unknown,
  rules: readonly AuthRule[],
  payload: Readonly<Record<string, unknown>> | undefined,
): ListenVerdict {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return { ok: true };
  const m = message as { method?: unknown; params?: { notifications?: { resourceSubscriptions?: unknown } } };
  if (m.method !== 'subscriptions/listen') return { ok: true };
  const uris = m.params?.notifications?.resourceSubscriptions;
  if (!Array.isArray(uris) || uris.length === 0) return { ok: true };
  const allowed = allowedItems(rules, payload, 'resources');
  if (allowed.all) return { ok: true };
  for (const uri of uris) {
    // Not a string: the adapter refuses the filter as invalid; refused here too, so no odd value slips past.
    if (typeof uri !== 'string') return { ok: false, uri: JSON.stringify(uri) };
    if (!allowed.names.has(uri)) return { ok: false, uri };
  }
  return { ok: true };
}
