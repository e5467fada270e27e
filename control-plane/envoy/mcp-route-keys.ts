// PROVISIONAL (written by the lead so the tree compiles): header-only matching,
// no body derivation yet. The filter study replaces this whole file.
export function mcpRouteKeyHttpFilters(): object[] {
  return [];
}

export function toolRouteMatch(pathPrefix: string, method: string, name?: string): object {
  const headers: object[] = [{ name: 'mcp-method', string_match: { exact: method } }];
  if (name !== undefined) headers.push({ name: 'mcp-name', string_match: { exact: name } });
  return { path_separated_prefix: pathPrefix, headers };
}
