// A server's policy `paramRoutes` → the catalog's ParamRoutes: each rule is
// joined with the tool's own `x-mcp-header` declaration (learned from
// tools/list: the argument's path and type) and with the target server (its
// endpoint path, and the tool's retry and timeout there). A rule whose tool
// does not declare the param, or whose server is not in the catalog, is left
// out until both are known: a route on an argument Envoy cannot verify, or to
// a cluster that does not exist, is worse than none.
import type { CatalogServer, ParamRoute, ServerSpec, ToolInfo } from './model.js';

export function resolveParamRoutes(
  spec: ServerSpec,
  tools: readonly ToolInfo[] | undefined,
  servers: ReadonlyMap<string, CatalogServer>,
): ParamRoute[] {
  const out: ParamRoute[] = [];
  for (const rule of spec.policy.paramRoutes ?? []) {
    const param = tools?.find((t) => t.name === rule.tool)?.params?.find((p) => p.name.toLowerCase() === rule.param.toLowerCase());
    const target = servers.get(rule.server);
    if (param === undefined || target === undefined) continue;
    if (param.type === 'integer' && !/^-?(?:0|[1-9][0-9]*)$/.test(rule.value)) continue;
    if (param.type === 'boolean' && rule.value !== 'true' && rule.value !== 'false') continue;
    const there = target.toolRoutes.find((t) => t.tool === rule.tool);
    out.push({
      tool: rule.tool,
      param,
      value: rule.value,
      server: target.name,
      path: target.path,
      timeoutMs: there?.timeoutMs ?? target.policy.toolTimeoutMs,
      retry: there?.retry ?? target.policy.unsafeRetry,
    });
  }
  return out;
}

const withRoutes = new WeakMap<CatalogServer, { readonly key: string; readonly server: CatalogServer }>();

/** The catalog's servers with their param routes; an unchanged server stays the same object. */
export function addParamRoutes(
  servers: readonly CatalogServer[],
  specs: ReadonlyMap<string, ServerSpec>,
  tools: ReadonlyMap<string, readonly ToolInfo[]>,
): CatalogServer[] {
  const byName = new Map(servers.map((s) => [s.name, s]));
  return servers.map((s) => {
    const spec = specs.get(s.name);
    if (spec?.policy.paramRoutes === undefined || spec.policy.paramRoutes.length === 0) return s;
    const routes = resolveParamRoutes(spec, tools.get(s.name), byName);
    if (routes.length === 0) return s;
    const key = JSON.stringify(routes);
    const hit = withRoutes.get(s);
    if (hit?.key === key) return hit.server;
    const server = { ...s, paramRoutes: routes };
    withRoutes.set(s, { key, server });
    return server;
  });
}
