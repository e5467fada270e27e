// The `requestState` of a 2026-07-28 multi round-trip request (MRTR) that the
// adapter bridges to a 2025-era server's elicitation or sampling request: which
// replica holds the server's call, which hold on it this round is, and what
// call it is, sealed with AES-256-GCM under a key derived from the server's
// session key ring, so that a client can neither read, forge nor re-aim it.
//
// Token text: `m<kid>.<base64url( iv(12) | ciphertext | tag(16) )>`.
// The AES key is HKDF-SHA256(ring key, info = "mcpmesh-mrtr/1/" + server):
// distinct from the session ids' keys, and per server. AAD = format, server,
// kid. Single use is not the seal's business: the holder forgets a hold when
// its first retry arrives (mrtr-holds.ts).
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { RingKeySeal, SEAL_IV_BYTES, SEAL_TAG_BYTES } from '../sessions/ring-key-seal.js';
import type { KeyRing } from '../sessions/session-keys.js';

export const MRTR_STATE_FORMAT = 'm';
/** The longest state seal() writes is far below this; longer input is refused unread. */
export const MAX_REQUEST_STATE_LENGTH = 4096;
const TOKEN = /^m([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]+)$/;

/** What a state says. */
export interface MrtrState {
  /** The hold (one round of one call) on the holder: 128 random bits, base64url. */
  readonly holdId: string;
  /** The adapter process that holds the call (random per run). */
  readonly replicaId: string;
  /** Where that replica is reached directly (its own MCP endpoint URL). */
  readonly holderUrl: string;
  /** SHA-256 (base64url) of the call the state belongs to (callBinding). */
  readonly binding: string;
  /** Epoch ms; from then on the state is refused as expired. */
  readonly expiresAt: number;
}

export type StateFailure = 'malformed' | 'unknown_key' | 'tampered' | 'expired';

export type StateOpen = { readonly ok: true; readonly state: MrtrState } | { readonly ok: false; readonly reason: StateFailure };

const PayloadSchema = z.object({
  h: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  r: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  u: z.string().url().max(1024),
  b: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  e: z.number().int().nonnegative(),
});

/** Params members that are not part of the call: the envelope and the retry channel. */
const NOT_THE_CALL = new Set(['_meta', 'inputResponses', 'requestState']);

/**
 * The call a state is bound to: method and params without the envelope and the
 * retry members. The client's SDK retries with the original params spread
 * again (same members, same order), so the text is the same on every round.
 */
export function callBinding(method: string, params: Record<string, unknown> | undefined): string {
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params ?? {})) if (!NOT_THE_CALL.has(k)) rest[k] = v;
  return createHash('sha256').update(method).update('\0').update(JSON.stringify(rest)).digest('base64url');
}

export interface MrtrStateCodecOptions {
  readonly server: string;
  /** The ring in force (the session key ring), read on every seal and open. */
  readonly keys: () => KeyRing | undefined;
  readonly now?: () => number;
}

export class MrtrStateCodec {
  private readonly sealer: RingKeySeal;
  private readonly now: () => number;

  constructor(private readonly opts: MrtrStateCodecOptions) {
    this.sealer = new RingKeySeal(`mcpmesh-mrtr/1/${opts.server}`, `mcpmesh-mrtr\x001\x00${opts.server}\x00`);
    this.now = opts.now ?? Date.now;
  }

  /** A new hold id. */
  static newHoldId(): string {
    return randomBytes(16).toString('base64url');
  }

  /** Undefined when no key may sign now (the ring is empty or not loaded). */
  seal(state: MrtrState): string | undefined {
    const key = this.opts.keys()?.signer(this.now());
    if (key === undefined) return undefined;
    const plain = Buffer.from(
      JSON.stringify({ h: state.holdId, r: state.replicaId, u: state.holderUrl, b: state.binding, e: state.expiresAt }),
      'utf8',
    );
    const sealed = this.sealer.seal(key, plain);
    return `${MRTR_STATE_FORMAT}${key.kid}.${sealed.toString('base64url')}`;
  }

  /** Never throws; input over MAX_REQUEST_STATE_LENGTH is refused unread. */
  open(text: unknown): StateOpen {
    try {
      return this.openUnguarded(text);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
  }

  private openUnguarded(text: unknown): StateOpen {
    if (typeof text !== 'string' || text.length > MAX_REQUEST_STATE_LENGTH) return { ok: false, reason: 'malformed' };
    const m = TOKEN.exec(text);
    if (m === null) return { ok: false, reason: 'malformed' };
    const kid = m[1]!;
    const body = m[2]!;
    if (body.length % 4 === 1) return { ok: false, reason: 'malformed' };
    const blob = Buffer.from(body, 'base64url');
    if (blob.length < SEAL_IV_BYTES + SEAL_TAG_BYTES + 1 || blob.toString('base64url') !== body) return { ok: false, reason: 'malformed' };
    const key = this.opts.keys()?.verifier(kid, this.now());
    if (key === undefined) return { ok: false, reason: 'unknown_key' };
    const plain = this.sealer.open(key, kid, blob);
    if (plain === undefined) return { ok: false, reason: 'tampered' };
    const parsed = PayloadSchema.safeParse(JSON.parse(plain.toString('utf8')));
    if (!parsed.success) return { ok: false, reason: 'malformed' };
    const p = parsed.data;
    if (this.now() >= p.e) return { ok: false, reason: 'expired' };
    return { ok: true, state: { holdId: p.h, replicaId: p.r, holderUrl: p.u, binding: p.b, expiresAt: p.e } };
  }
}
