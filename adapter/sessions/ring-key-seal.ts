// AES-256-GCM under a key derived from a session key ring's key: what the
// portable session ids and the MRTR request states both seal with. Each use
// names its own HKDF info and AAD prefix, so the same ring key gives each use
// (and each server) an AES key of its own, and a text sealed for one use does
// not open as another.
//
// Sealed bytes: iv(12) | ciphertext | tag(16). The HKDF is SHA-256 with an
// empty salt; the AAD is the prefix followed by the sealing key's kid.
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import type { SessionKey } from './session-keys.js';

export const SEAL_IV_BYTES = 12;
export const SEAL_TAG_BYTES = 16;

export class RingKeySeal {
  private readonly info: Buffer;
  /** Derived per ring key; a reloaded ring brings new SessionKey objects, and the old ones are collected. */
  private readonly derived = new WeakMap<SessionKey, KeyObject>();

  constructor(
    info: string,
    private readonly aadPrefix: string,
  ) {
    this.info = Buffer.from(info, 'utf8');
  }

  seal(key: SessionKey, plain: Buffer): Buffer {
    const iv = randomBytes(SEAL_IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.aesKey(key), iv);
    cipher.setAAD(Buffer.from(this.aadPrefix + key.kid, 'utf8'));
    return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  /**
   * The plaintext of `sealed` (at least SEAL_IV_BYTES + SEAL_TAG_BYTES + 1
   * bytes, the caller checks), or undefined when its tag does not verify under
   * `key` and the AAD of `kid`.
   */
  open(key: SessionKey, kid: string, sealed: Buffer): Buffer | undefined {
    const decipher = createDecipheriv('aes-256-gcm', this.aesKey(key), sealed.subarray(0, SEAL_IV_BYTES), {
      authTagLength: SEAL_TAG_BYTES,
    });
    decipher.setAAD(Buffer.from(this.aadPrefix + kid, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - SEAL_TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(SEAL_IV_BYTES, sealed.length - SEAL_TAG_BYTES)), decipher.final()]);
    } catch {
      return undefined;
    }
  }

  private aesKey(key: SessionKey): KeyObject {
    let k = this.derived.get(key);
    if (k === undefined) {
      k = createSecretKey(Buffer.from(hkdfSync('sha256', key.secretBytes(), Buffer.alloc(0), this.info, 32)));
      this.derived.set(key, k);
    }
    return k;
  }
}
