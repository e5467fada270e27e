// Authentication for the fault suite (`--auth`): a JWT provider for the whole
// mesh (Consul KV mcpmesh/policy/_mesh, a local JWKS) and per-tool rules on
// the fixture server, so that every call of the load is verified by Envoy's
// jwt_authn, checked by its RBAC, and every tools/list goes through the list
// filter. The load's token lets it call the tools the scenarios use; the
// other rules are there so that the rules are not trivially one.
import { corpAuth, type JwtIssuer, startJwtIssuer } from '../support/jwt-issuer.js';

export interface FaultAuth {
  /** The `auth` section of the mesh settings. */
  readonly mesh: object;
  /** The fixture server's policy `auth`. */
  readonly policy: object;
  /** The load's request headers (its bearer token). */
  readonly headers: Readonly<Record<string, string>>;
}

export async function faultAuth(dir: string): Promise<FaultAuth> {
  const issuer: JwtIssuer = await startJwtIssuer(dir);
  // Longer than any run (the suite's scenarios last well under a minute each).
  const token = await issuer.sign({ sub: 'fault-load', scope: 'faults.call' }, { expiresIn: '2h' });
  return {
    mesh: corpAuth(issuer),
    policy: {
      rules: [
        { name: 'admins', when: { claims: { groups: ['admin'] } }, tools: ['*'], prompts: ['*'], resources: ['*'] },
        { name: 'load', when: { scopes: ['faults.call'] }, tools: ['slow', 'increment', 'echo'] },
        { name: 'readers', when: { scopes: ['notes.read'] }, resources: ['fixture://note'] },
      ],
    },
    headers: { authorization: `Bearer ${token}` },
  };
}
