// The seal the session ids and the MRTR states share: what one use sealed
// opens under the same key and use, and under nothing else.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RingKeySeal, SEAL_IV_BYTES, SEAL_TAG_BYTES } from '../../../../adapter/sessions/ring-key-seal.js';
import { SessionKey } from '../../../../adapter/sessions/session-keys.js';

const PLAIN = Buffer.from('{"a":1}', 'utf8');

test('iv | ciphertext | tag, opened under the same key, kid and use', () => {
  const key = new SessionKey('k1', randomBytes(32), 0, undefined);
  const seal = new RingKeySeal('use/1/tools', 'use\0tools\0');
  const sealed = seal.seal(key, PLAIN);
  assert.equal(sealed.length, SEAL_IV_BYTES + PLAIN.length + SEAL_TAG_BYTES);
  assert.deepEqual(seal.open(key, 'k1', sealed), PLAIN);
  assert.deepEqual(new RingKeySeal('use/1/tools', 'use\0tools\0').open(key, 'k1', sealed), PLAIN);
});

test('another key, kid, HKDF info or AAD prefix, or an altered byte: undefined, not a throw', () => {
  const key = new SessionKey('k1', randomBytes(32), 0, undefined);
  const seal = new RingKeySeal('use/1/tools', 'use\0tools\0');
  const sealed = seal.seal(key, PLAIN);
  assert.equal(seal.open(new SessionKey('k1', randomBytes(32), 0, undefined), 'k1', sealed), undefined);
  assert.equal(seal.open(key, 'k2', sealed), undefined);
  assert.equal(new RingKeySeal('use/1/other', 'use\0tools\0').open(key, 'k1', sealed), undefined);
  assert.equal(new RingKeySeal('use/1/tools', 'use\0other\0').open(key, 'k1', sealed), undefined);
  for (const at of [0, SEAL_IV_BYTES, sealed.length - 1]) {
    const altered = Buffer.from(sealed);
    altered[at] = altered[at]! ^ 1;
    assert.equal(seal.open(key, 'k1', altered), undefined, `byte ${at}`);
  }
});
