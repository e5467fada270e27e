// What a Consul ACL token may do, asked of Consul itself before it matters:
// with default deny, reads the token may not make are not refused but
// filtered (an empty catalog, a 404 KV prefix), which would look like a mesh
// with no servers. Consul's /v1/internal/acl/authorize answers per permission
// for the calling token (the endpoint the Consul UI uses; it needs no
// permission of its own). docs/security.md has the policies.
import type { ConsulHttp } from './consul-http.js';

export interface AclRequirement {
  readonly resource: 'service' | 'node' | 'key';
  readonly access: 'read' | 'write';
  /** The name (a prefix rule covers it). */
  readonly segment: string;
}

/** How an operator writes the rule that grants it. */
export function describeRequirement(r: AclRequirement): string {
  return `${r.resource}_prefix "${r.segment}" { policy = "${r.access}" }`;
}

/**
 * The requirements the token does not meet; [] when it meets them all (or
 * ACLs are off). Rejects when Consul cannot be asked.
 */
export async function missingPermissions(http: Pick<ConsulHttp, 'request'>, wanted: readonly AclRequirement[]): Promise<AclRequirement[]> {
  const res = await http.request<{ Allow?: boolean }[]>('POST', '/v1/internal/acl/authorize', {
    endpoint: 'acl_authorize',
    body: wanted.map((w) => ({ Resource: w.resource, Access: w.access, Segment: w.segment })),
    timeoutMs: 10_000,
  });
  const answers = Array.isArray(res.body) ? res.body : [];
  return wanted.filter((_, i) => answers[i]?.Allow !== true);
}
