// Portable 2025-era session ids (Mcp-Session-Id). The id carries what any
// replica of the server needs to take the session over (negotiated protocol
// version, client capabilities and info) sealed with AES-256-GCM under a key
// the server's replicas share, so a client can neither read nor forge it.
//
// Token text, visible ASCII without `;` or `,` (Envoy's envelope session state
// and header lists use those):
//
//   <version><kid>.<base64url( serverTag(4) | iv(12) | ciphertext | tag(16) )>
//
// - version: one character, `1` (SESSION_ID_FORMAT_VERSION).
// - kid: 1-16 of [A-Za-z0-9_-], names the ring key that sealed the id.
// - serverTag: the first 4 bytes of SHA-256 over the server name, in clear, so
//   that an id of another server is told apart (`wrong_server`) from a
//   tampered one without trying a key. It decides nothing: the AAD and the
//   per-server key below are what refuse such an id.
// - The AES key is HKDF-SHA256(ring key, info = format version + server), so
//   one ring shared by several servers (one key file for `mcpmesh up`) still
//   gives each server keys of its own. AAD = format version, server, kid.
//
// Reasons other than `ok` are for counting and logs only: the parts read
// before the tag is checked (version, kid, server tag) are the client's word.

import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CodedError } from '../../lib/coded-error.js';
import { RingKeySeal, SEAL_IV_BYTES, SEAL_TAG_BYTES } from './ring-key-seal.js';
import type { KeyRing } from './session-keys.js';

export const SESSION_ID_FORMAT_VERSION = '1';

/**
 * Upper bound on the sealed payload (UTF-8 JSON): capabilities and client info
 * are the client's, and the id is sent as a header on every request.
 */
export const MAX_SESSION_PAYLOAD_BYTES = 4096;

/** How long an id is accepted after it was issued, unless the codec is told otherwise. */
export const DEFAULT_SESSION_LIFETIME_MS = 24 * 60 * 60 * 1000;

const KID = /^[A-Za-z0-9_-]{1,16}$/;
const SERVER_TAG_BYTES = 4;
const MAX_KID_LENGTH = 16;
const MAX_BLOB_BYTES = SERVER_TAG_BYTES + SEAL_IV_BYTES + MAX_SESSION_PAYLOAD_BYTES + SEAL_TAG_BYTES;
const MIN_BLOB_BYTES = SERVER_TAG_BYTES + SEAL_IV_BYTES + 1 + SEAL_TAG_BYTES;

/** The longest id seal() can produce; open() refuses anything longer before decoding it. */
export const MAX_SESSION_ID_LENGTH = 1 + MAX_KID_LENGTH + 1 + Math.ceil((MAX_BLOB_BYTES * 4) / 3);

/** The whole token: checked in one pass, with nothing that backtracks. */
const TOKEN = /^([0-9A-Za-z])([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]+)$/;

/** 16 bytes in base64url: the last character carries 2 bits, so only A, Q, g and w end one. */
export const SESSION_KEY_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/;

/** A session as any replica of the server may carry it on. */
export interface PortableSession {
  /** 128 random bits, base64url: names the session's mutable state in a shared store. */
  readonly sessionKey: string;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  /** Epoch milliseconds; from then on the id is refused as `expired`. */
  readonly expiresAt: number;
  readonly protocolVersion: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: ClientInfo;
}

export interface ClientInfo {
  readonly name: string;
  readonly version: string;
  readonly [field: string]: unknown;
}

export type OpenFailure = 'malformed' | 'unknown_key' | 'tampered' | 'expired' | 'wrong_server';
export const OPEN_FAILURES: readonly OpenFailure[] = ['malformed', 'unknown_key', 'tampered', 'expired', 'wrong_server'];

export type OpenResult =
  | { readonly ok: true; readonly session: PortableSession; readonly kid: string }
  | { readonly ok: false; readonly reason: OpenFailure };

export interface SealInput {
  readonly protocolVersion: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: ClientInfo;
}

export class SessionIdError extends CodedError<'payload_too_large' | 'no_signing_key' | 'invalid_input'> {}

export interface SessionIdCodecOptions {
  /** The server whose replicas share these ids. */
  readonly server: string;
  /** The ring in force; read on every seal and on every open (rotation needs no restart). */
  readonly keys: () => KeyRing | undefined;
  readonly lifetimeMs?: number;
  readonly now?: () => number;
}

/** What is sealed: short names, as the id travels on every request. */
const PayloadSchema = z.object({
  k: z.string().regex(SESSION_KEY_PATTERN),
  i: z.number().int().nonnegative(),
  e: z.number().int().nonnegative(),
  v: z.string().min(1).max(64),
  c: z.record(z.string(), z.unknown()),
  n: z.looseObject({ name: z.string(), version: z.string() }),
});

export class SessionIdCodec {
  private readonly serverTag: Buffer;
  private readonly sealer: RingKeySeal;
  private readonly lifetimeMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: SessionIdCodecOptions) {
    if (opts.server === '') throw new SessionIdError('the server name must not be empty', 'invalid_input');
    this.serverTag = serverTagOf(opts.server);
    this.sealer = new RingKeySeal(
      `mcpmesh-session-id/${SESSION_ID_FORMAT_VERSION}/${opts.server}`,
      `mcpmesh-session-id\0${SESSION_ID_FORMAT_VERSION}\0${opts.server}\0`,
    );
    this.lifetimeMs = opts.lifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    if (!Number.isSafeInteger(this.lifetimeMs) || this.lifetimeMs <= 0)
      throw new SessionIdError('the session lifetime must be a positive integer of milliseconds', 'invalid_input');
    this.now = opts.now ?? Date.now;
  }

  /**
   * A new session id. Throws SessionIdError when the payload would exceed
   * MAX_SESSION_PAYLOAD_BYTES (the client sent huge capabilities or info) or
   * no ring key may sign now.
   */
  seal(input: SealInput): { readonly id: string; readonly session: PortableSession } {
    const now = this.now();
    const key = this.opts.keys()?.signer(now);
    if (key === undefined)
      throw new SessionIdError(
        'no session key may sign now (the key ring is empty, not loaded, or every key is retired or not yet active)',
        'no_signing_key',
      );
    const session: PortableSession = {
      sessionKey: randomBytes(16).toString('base64url'),
      issuedAt: now,
      expiresAt: now + this.lifetimeMs,
      protocolVersion: input.protocolVersion,
      clientCapabilities: input.clientCapabilities,
      clientInfo: input.clientInfo,
    };
    let text: string;
    try {
      text = JSON.stringify({
        k: session.sessionKey,
        i: session.issuedAt,
        e: session.expiresAt,
        v: session.protocolVersion,
        c: session.clientCapabilities,
        n: session.clientInfo,
      });
    } catch (err) {
      throw new SessionIdError(`session payload is not serializable: ${(err as Error).message}`, 'invalid_input');
    }
    const plain = Buffer.from(text, 'utf8');
    if (plain.length > MAX_SESSION_PAYLOAD_BYTES) {
      throw new SessionIdError(
        `session payload is ${plain.length} bytes, over the ${MAX_SESSION_PAYLOAD_BYTES}-byte bound: the client's capabilities and info are too large to carry in a session id`,
        'payload_too_large',
      );
    }
    const parsed = PayloadSchema.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new SessionIdError(
        `session payload is invalid at ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
        'invalid_input',
      );
    const sealed = Buffer.concat([this.serverTag, this.sealer.seal(key, plain)]);
    return { id: `${SESSION_ID_FORMAT_VERSION}${key.kid}.${sealed.toString('base64url')}`, session };
  }

  /** Never throws; time linear in the input, and input over MAX_SESSION_ID_LENGTH is refused unread. */
  open(id: unknown): OpenResult {
    try {
      return this.openUnguarded(id);
    } catch {
      // Nothing above should throw on any input; if something does, it is not a session.
      return { ok: false, reason: 'malformed' };
    }
  }

  private openUnguarded(id: unknown): OpenResult {
    if (typeof id !== 'string' || id.length > MAX_SESSION_ID_LENGTH) return fail('malformed');
    const m = TOKEN.exec(id);
    if (m === null || m[1] !== SESSION_ID_FORMAT_VERSION) return fail('malformed');
    const kid = m[2]!;
    const body = m[3]!;
    // base64url without padding: a length of 1 mod 4 cannot be produced.
    if (body.length % 4 === 1) return fail('malformed');
    const blob = Buffer.from(body, 'base64url');
    if (blob.length < MIN_BLOB_BYTES || blob.length > MAX_BLOB_BYTES) return fail('malformed');
    // The last character's spare bits decode to nothing: without this, several
    // texts would name one session, and a replica would adopt it once per text.
    if (blob.toString('base64url') !== body) return fail('malformed');
    if (!blob.subarray(0, SERVER_TAG_BYTES).equals(this.serverTag)) return fail('wrong_server');
    const now = this.now();
    const key = this.opts.keys()?.verifier(kid, now);
    if (key === undefined) return fail('unknown_key');
    const plain = this.sealer.open(key, kid, blob.subarray(SERVER_TAG_BYTES));
    if (plain === undefined) return fail('tampered');
    // Authenticated from here on: what fails now was sealed by a holder of the
    // key in another shape (a format drift), not altered on the way.
    let json: unknown;
    try {
      json = JSON.parse(plain.toString('utf8'));
    } catch {
      return fail('malformed');
    }
    const parsed = PayloadSchema.safeParse(json);
    if (!parsed.success) return fail('malformed');
    const p = parsed.data;
    if (now >= p.e) return fail('expired');
    return {
      ok: true,
      kid,
      session: {
        sessionKey: p.k,
        issuedAt: p.i,
        expiresAt: p.e,
        protocolVersion: p.v,
        clientCapabilities: p.c,
        clientInfo: p.n as ClientInfo,
      },
    };
  }
}

function fail(reason: OpenFailure): OpenResult {
  return { ok: false, reason };
}

function serverTagOf(server: string): Buffer {
  return createHash('sha256').update(`mcpmesh-session-server\0${server}`, 'utf8').digest().subarray(0, SERVER_TAG_BYTES);
}

/** Whether a string looks like a kid the token format can carry (the key ring checks its kids with it). */
export function isValidKid(kid: string): boolean {
  return KID.test(kid);
}
