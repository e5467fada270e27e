// A server's authorization rules → the RBAC config every route of the server
// carries (RBACPerRoute). Pure.
//
// The rules allow; Envoy's RBAC is given the complement as DENY policies, one
// per item a rule names ("search:tool:echo:readers,ops": a tools/call of echo
// on server search by a caller no rule naming echo matches) and one per kind
// for everything else ("search:tool:*:unlisted"), so the policy that matched
// names the server, the tool and the rules, both in Envoy's per-policy
// counters and in the denial's response details. (Envoy ignores a per-route
// rules_stat_prefix for per-policy counters, hence the server in the name.) A request matches at most one policy.
// Method, tool name and resource URI come from the body (mcp-route-keys.ts),
// the caller's claims from jwt_authn's verified payload.

import type { CatalogAuth } from '../catalog/auth-resolution.js';
import type { AuthRule } from '../catalog/auth-schema.js';
import { JWT_FILTER, JWT_PAYLOAD_KEY, RBAC_FILTER } from './agent-auth.js';
import { JSON_CONTENT_TYPE, ROUTE_KEY_NAMESPACE } from './mcp-route-keys.js';
import { filterOn } from './proto-values.js';

/** The gated methods of each kind a rule names, and the body key that names the item. */
const KINDS = [
  { kind: 'tool', list: 'tools', methods: ['tools/call'], key: 'name' },
  { kind: 'prompt', list: 'prompts', methods: ['prompts/get'], key: 'name' },
  { kind: 'resource', list: 'resources', methods: ['resources/read', 'resources/subscribe'], key: 'uri' },
] as const;

type Kind = (typeof KINDS)[number];

const exact = (s: string) => ({ exact: s });

function bodyKeyIs(key: string, value: string): object {
  return { metadata: { filter: ROUTE_KEY_NAMESPACE, path: [{ key }], value: { string_match: exact(value) } } };
}

function claimMatcher(claim: string, value: object): object {
  return { metadata: { filter: JWT_FILTER, path: [{ key: JWT_PAYLOAD_KEY }, { key: claim }], value } };
}

/** A claim that is this string, or a list that contains it. */
function claimHas(claim: string, v: string): object {
  return {
    or_ids: {
      ids: [claimMatcher(claim, { string_match: exact(v) }), claimMatcher(claim, { list_match: { one_of: { string_match: exact(v) } } })],
    },
  };
}

function anyOf<T extends object>(items: readonly T[], wrap: 'or_ids' | 'or_rules'): object {
  if (items.length === 1) return items[0]!;
  return wrap === 'or_ids' ? { or_ids: { ids: items } } : { or_rules: { rules: items } };
}

function allOf(items: readonly object[]): object {
  if (items.length === 1) return items[0]!;
  return { and_ids: { ids: items } };
}

/** The callers a rule applies to: a verified token and every condition of `when`. */
export function rulePrincipal(rule: AuthRule): object {
  const ids: object[] = [{ metadata: { filter: JWT_FILTER, path: [{ key: JWT_PAYLOAD_KEY }], value: { present_match: true } } }];
  const w = rule.when;
  if (w?.sub)
    ids.push(
      anyOf(
        w.sub.map((s) => claimMatcher('sub', { string_match: exact(s) })),
        'or_ids',
      ),
    );
  // jwt_authn turns the space-delimited scope into a list (normalize_payload_in_metadata).
  for (const s of w?.scopes ?? []) ids.push(claimMatcher('scope', { list_match: { one_of: { string_match: exact(s) } } }));
  for (const [claim, values] of Object.entries(w?.claims ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))
    ids.push(
      anyOf(
        values.map((v) => claimHas(claim, v)),
        'or_ids',
      ),
    );
  return allOf(ids);
}

function gatedMethod(kind: Kind): object {
  return anyOf(
    kind.methods.map((m) => bodyKeyIs('method', m)),
    'or_rules',
  );
}

/** Every caller none of `rules` applies to (no rules: every caller). */
function noneOf(rules: readonly AuthRule[]): object {
  if (rules.length === 0) return { any: true };
  return { not_id: anyOf(rules.map(rulePrincipal), 'or_ids') };
}

function itemsOf(rule: AuthRule, kind: Kind): readonly string[] {
  return rule[kind.list] ?? [];
}

/** The DENY policies of one server's rules, by policy name. */
export function denyPolicies(server: string, rules: readonly AuthRule[]): Record<string, object> {
  const policies: Record<string, object> = {};
  for (const kind of KINDS) {
    const wildcard = rules.filter((r) => itemsOf(r, kind).includes('*'));
    const named = [...new Set(rules.flatMap((r) => itemsOf(r, kind)).filter((i) => i !== '*'))].sort();
    for (const item of named) {
      const allowing = rules.filter((r) => itemsOf(r, kind).includes(item) || itemsOf(r, kind).includes('*'));
      policies[`${server}:${kind.kind}:${item}:${allowing.map((r) => r.name).join(',')}`] = {
        permissions: [{ and_rules: { rules: [gatedMethod(kind), bodyKeyIs(kind.key, item)] } }],
        principals: [noneOf(allowing)],
      };
    }
    const unlisted: object[] = [gatedMethod(kind)];
    if (named.length > 0)
      unlisted.push({
        not_rule: anyOf(
          named.map((i) => bodyKeyIs(kind.key, i)),
          'or_rules',
        ),
      });
    policies[`${server}:${kind.kind}:*:${wildcard.length > 0 ? wildcard.map((r) => r.name).join(',') : 'unlisted'}`] = {
      permissions: [unlisted.length === 1 ? unlisted[0]! : { and_rules: { rules: unlisted } }],
      principals: [noneOf(wildcard)],
    };
  }
  return policies;
}

/**
 * The server's default route takes POSTs whose body names no method. A JSON
 * object without one is no call (a JSON-RPC response, or nothing the server
 * executes) and passes; with rules, a body that is not JSON could carry any
 * call, so it is refused. (A JSON batch is not caught here: json_to_metadata
 * reports nothing for a top-level array; docs/security.md.)
 */
function unreadableBodyPolicy(server: string): Record<string, object> {
  const post = { header: { name: ':method', string_match: exact('POST') } };
  return {
    [`${server}:body:no-method:unreadable`]: {
      permissions: [
        // json_to_metadata reads JSON bodies only: any other POST is unreadable too.
        {
          and_rules: {
            rules: [post, { not_rule: { header: { name: 'content-type', string_match: { safe_regex: { regex: JSON_CONTENT_TYPE } } } } }],
          },
        },
      ],
      principals: [{ any: true }],
    },
  };
}

/** Which of a server's DENY policies a route needs: what its match lets through. */
export type RbacScope =
  /** A route any gated method can take. */
  | { readonly kind: 'all' }
  /** A route only a tools/call of this tool takes: its one policy. */
  | { readonly kind: 'tool'; readonly tool: string }
  /** The default route (POSTs without a method): only the unreadable-body policy. */
  | { readonly kind: 'no-method' }
  /** GET/DELETE and the list routes: nothing gated. */
  | { readonly kind: 'none' };

/**
 * The RBAC per-route configs of a server's routes, by scope (none without
 * rules). Tool routes carry one policy each, so the route table grows with
 * tools plus items, not with their product.
 */
export function serverRbac(server: string, auth: CatalogAuth): (scope: RbacScope) => Record<string, object> {
  if (auth.mode !== 'jwt' || auth.rules === undefined) return () => ({});
  const all = denyPolicies(server, auth.rules);
  const toolWildcard = Object.keys(all).find((k) => k.startsWith(`${server}:tool:*:`))!;
  // The listener has RBAC off (agent-auth.ts): every route of the server turns
  // it on, also those with nothing to check, whichever route Envoy creates a
  // request's filters from (its headers' route, before the body is read) and
  // whichever the body then picks.
  const perRoute = (rbac?: object) => ({
    [RBAC_FILTER]: filterOn({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
      ...(rbac ? { rbac } : {}),
    }),
  });
  const config = (policies: Record<string, object>) =>
    perRoute({
      rules: { action: 'DENY', policies },
      // Counters per policy: http.<listener>.rbac.policy.<policy name>.denied.
      track_per_rule_stats: true,
    });
  const whole = config(all);
  const noMethod = config(unreadableBodyPolicy(server));
  const nothing = perRoute();
  return (scope) => {
    switch (scope.kind) {
      case 'all':
        return whole;
      case 'no-method':
        return noMethod;
      case 'none':
        return nothing;
      case 'tool': {
        const own = Object.keys(all).find((k) => k.startsWith(`${server}:tool:${scope.tool}:`)) ?? toolWildcard;
        return config({ [own]: all[own]! });
      }
    }
  };
}
