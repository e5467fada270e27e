// Agent identity and per-tool authorization, as operators write them: the
// mesh-wide JWT providers (the file's `auth:` section, KV mcpmesh/policy/_mesh)
// and a server's `auth` policy (which provider, opting out, the rules).
// Envoy enforces all of it (control-plane/envoy/agent-auth.ts and
// tool-authorization.ts); docs/security.md describes the model.
import { z } from 'zod';
import { durationMs, FilePathSchema, TOOL_NAME } from './schema-primitives.js';

const FilePath = FilePathSchema;

function urlSchema(protocols: readonly string[], what: string) {
  return z
    .string()
    .max(2048)
    .superRefine((text, ctx) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
        return;
      }
      if (!protocols.includes(url.protocol)) ctx.addIssue({ code: 'custom', message: `"${text}" must be ${what}` });
      if (url.username || url.password || url.hash)
        ctx.addIssue({ code: 'custom', message: `"${text}" must not carry credentials or a fragment` });
    });
}

/** JWKS over HTTPS: Envoy fetches it through a cluster of its own and verifies the server's certificate. */
const HttpsUrl = urlSchema(['https:'], 'an https:// URL (the JWKS is fetched with a verified certificate)');
const HttpUrl = urlSchema(['http:', 'https:'], 'an http:// or https:// URL');

/** A JWT claim name: what jwt_authn and a header name can both carry. */
export const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const ClaimName = z.string().regex(CLAIM_NAME, 'claim names are 1-64 of A-Z a-z 0-9 _ . : -');
/** Claims the mesh sets its own headers for or reads itself. */
const RESERVED_FORWARD = new Set(['sub']);

/** A provider or rule name: also part of Envoy stat names and requirement names. */
export const AUTH_NAME = /^[A-Za-z0-9_-]{1,63}$/;
const AuthName = z.string().regex(AUTH_NAME, 'names are 1-63 of A-Z a-z 0-9 _ -');

const ClaimValue = z.string().min(1).max(256);
const ScopeValue = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token (visible ASCII, no space, quote or backslash)');

export const JwtProviderSchema = z
  .strictObject({
    /** The `iss` every token must carry. */
    issuer: z.string().min(1).max(2048),
    /** Tokens must name one of these in `aud` (RFC 8707: the mesh's resource URL, typically). */
    audiences: z.array(z.string().min(1).max(2048)).min(1).max(32),
    /** Where the signing keys are: `uri` (HTTPS, cached) or `file` (a JWKS on Envoy's host). */
    jwks: z.union([
      z.strictObject({
        uri: HttpsUrl,
        /** How long Envoy keeps the fetched keys. */
        cacheDuration: durationMs(1_000, 7 * 24 * 3_600_000).optional(),
        /** CA bundle the JWKS server's certificate must chain to (default: --upstream-ca, else the system bundle). */
        caFile: FilePath.optional(),
      }),
      z.strictObject({ file: FilePath }),
    ]),
    /** Allowed clock difference for `exp` and `nbf`; at least 1s, since Envoy reads 0 as its default of 60s. */
    clockSkew: durationMs(1_000, 600_000).optional(),
    /**
     * Verified tokens each Envoy worker keeps (an LRU, tokens up to 4 KiB), so
     * a repeated token skips the signature check; `exp`/`nbf` are checked on
     * every request all the same. 0 verifies every request.
     */
    tokenCache: z.number().int().min(0).max(100_000).optional(),
    /** Authorization servers the protected-resource metadata lists (default: the issuer). */
    authorizationServers: z.array(HttpUrl).min(1).max(16).optional(),
    /** Claims besides `sub` passed to the upstream, each in `x-mcpmesh-claim-<claim>`. */
    forwardClaims: z.array(ClaimName).max(16).optional(),
  })
  .superRefine((p, ctx) => {
    for (const [i, c] of (p.forwardClaims ?? []).entries()) {
      if (RESERVED_FORWARD.has(c))
        ctx.addIssue({ code: 'custom', path: ['forwardClaims', i], message: '`sub` always reaches the upstream as x-mcpmesh-agent' });
    }
  });

export const MeshAuthSchema = z
  .strictObject({
    providers: z.record(AuthName, JwtProviderSchema).refine((m) => Object.keys(m).length <= 16, 'at most 16 providers'),
    /** The provider every server requires unless its policy names another or opts out. Without one, servers require none unless they name one. */
    default: AuthName.optional(),
    /** Whether a server's policy may say `auth: { required: false }` while a default provider is set. */
    allowOptOut: z.boolean().optional(),
    /**
     * The listener's URL as agents reach it (a TLS front, a load balancer):
     * the base of each server's `resource` in its protected-resource metadata.
     * Default: http://<envoy listen address>:<port>.
     */
    resourceBaseUrl: HttpUrl.optional(),
  })
  .superRefine((a, ctx) => {
    if (a.default !== undefined && a.providers[a.default] === undefined)
      ctx.addIssue({ code: 'custom', path: ['default'], message: `"${a.default}" is not one of providers` });
  });

/** Who a rule applies to: every condition given must hold (an empty `when` is any verified caller). */
export const RuleWhenSchema = z.strictObject({
  /** `sub` is one of these. */
  sub: z.array(ClaimValue).min(1).max(256).optional(),
  /** The token's `scope` (space-delimited) contains every one of these. */
  scopes: z.array(ScopeValue).min(1).max(32).optional(),
  /** Each named claim (a string, or a list such as `groups`) has or contains one of the values. */
  claims: z
    .record(ClaimName, z.array(ClaimValue).min(1).max(256))
    .refine((m) => Object.keys(m).length <= 16, 'at most 16 claims')
    .optional(),
});

/** A tool, prompt or resource name a rule lets its callers use; `*` is every one. */
const ToolName = z.string().regex(new RegExp(`${TOOL_NAME.source}|^\\*$`), 'tool names are 1-128 of A-Z a-z 0-9 _ . / - or *');
const PromptName = z.string().min(1).max(256);
const ResourceUri = z.string().min(1).max(2048);

export const AuthRuleSchema = z.strictObject({
  name: AuthName,
  when: RuleWhenSchema.optional(),
  tools: z.array(ToolName).max(1024).optional(),
  prompts: z.array(PromptName).max(1024).optional(),
  resources: z.array(ResourceUri).max(1024).optional(),
});

export const ServerAuthSchema = z
  .strictObject({
    /** A provider of the mesh's `auth.providers`; default: the mesh's `auth.default`. */
    provider: AuthName.optional(),
    /** `false` opts out of the mesh's default provider (only where the mesh allows it). */
    required: z.boolean().optional(),
    /** Scopes the protected-resource metadata lists (default: those the rules name). */
    scopes: z.array(ScopeValue).max(64).optional(),
    /**
     * Who may use which tools, prompts and resources. Without rules every
     * verified caller may use everything; with rules, a tools/call,
     * prompts/get or resources/read needs a rule that matches the caller and
     * names the item.
     */
    rules: z.array(AuthRuleSchema).max(256).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.required === false && a.provider !== undefined)
      ctx.addIssue({ code: 'custom', path: ['required'], message: 'a server that names a provider requires its tokens' });
    if (a.required === false && a.rules !== undefined)
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'rules need verified claims: they cannot go with required: false' });
    const seen = new Set<string>();
    for (const [i, r] of (a.rules ?? []).entries()) {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name "${r.name}"` });
      seen.add(r.name);
    }
  });

export type JwtProvider = z.output<typeof JwtProviderSchema>;
export type MeshAuth = z.output<typeof MeshAuthSchema>;
export type AuthRule = z.output<typeof AuthRuleSchema>;
export type ServerAuth = z.output<typeof ServerAuthSchema>;
