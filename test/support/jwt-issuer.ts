// A test token issuer with jose: an RS256 key whose JWKS is written to a file
// (the mesh's local_jwks), a second key nobody trusts, and tokens minted with
// any claims, audience or expiry.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

export interface TokenOptions {
  /** Seconds since the epoch, or a jose time span ('10m'). */
  readonly expiresIn?: string | number;
  readonly audience?: string;
  /** Signed with a key the JWKS does not hold. */
  readonly rogue?: boolean;
}

export interface JwtIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksFile: string;
  sign(claims: JWTPayload, opts?: TokenOptions): Promise<string>;
}

export async function startJwtIssuer(dir: string, issuer = 'https://issuer.mcpmesh.test', audience = 'mcpmesh-agents'): Promise<JwtIssuer> {
  const keys = await generateKeyPair('RS256');
  const rogue = await generateKeyPair('RS256');
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
  return {
    issuer,
    audience,
    jwksFile,
    sign: (claims, opts = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(opts.audience ?? audience)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
        .setExpirationTime(opts.expiresIn ?? '10m')
        .sign(opts.rogue ? rogue.privateKey : keys.privateKey),
  };
}

/** The mesh's `auth` section trusting this issuer as provider `corp`, the default of every server. */
export function corpAuth(issuer: JwtIssuer, provider: Record<string, unknown> = {}) {
  return {
    providers: { corp: { issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: issuer.jwksFile }, ...provider } },
    default: 'corp',
  };
}
