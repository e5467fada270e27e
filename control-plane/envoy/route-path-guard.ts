// A cheap first test on each of a server's routes: the request's :path starts
// with the server's prefix. Pure.
//
// Envoy tries the routes of a virtual host in order, and for each route it
// evaluates the header and dynamic-metadata matchers before the path. Every
// server's routes match on the body's route keys (dynamic metadata), so a
// request for a server late in the table paid for the metadata matchers of
// every route of every server before it: about 4 µs of Envoy CPU per call per
// server ahead (bench/RESULTS.md, "Route table position"). A header matcher on
// :path is tested first and fails at the first differing byte. It is implied
// by the route's own path_separated_prefix (the same normalized :path), so it
// changes no match, only how soon a foreign request moves on.

interface RouteMatch {
  readonly path_separated_prefix?: string;
  readonly headers?: readonly object[];
  readonly dynamic_metadata?: readonly object[];
}

/** The :path header matcher that guards a server's routes (exported for the tests). */
export function pathGuard(prefix: string): object {
  return { name: ':path', string_match: { prefix } };
}

/** The route with the guard as its first header matcher, when its match has matchers that Envoy tests before the path. */
export function withPathGuard(route: object): object {
  const r = route as { match?: RouteMatch };
  const m = r.match;
  if (m?.path_separated_prefix === undefined) return route;
  if ((m.headers?.length ?? 0) === 0 && (m.dynamic_metadata?.length ?? 0) === 0) return route;
  return { ...route, match: { ...m, headers: [pathGuard(m.path_separated_prefix), ...(m.headers ?? [])] } };
}
