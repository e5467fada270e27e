import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  MAX_SESSION_ID_LENGTH,
  MAX_SESSION_PAYLOAD_BYTES,
  OPEN_FAILURES,
  type OpenResult,
  SESSION_KEY_PATTERN,
  type SealInput,
  SessionIdCodec,
  SessionIdError,
} from '../../../../adapter/sessions/session-id-codec.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;

function key(kid: string, activeFrom = 0, retireAt?: number): SessionKey {
  return new SessionKey(kid, randomBytes(32), activeFrom, retireAt);
}

function codecFor(server: string, ring: KeyRing | undefined, clock: { now: number }, lifetimeMs = 10 * HOUR): SessionIdCodec {
  return new SessionIdCodec({ server, keys: () => ring, now: () => clock.now, lifetimeMs });
}

const INPUT: SealInput = {
  protocolVersion: '2025-11-25',
  clientCapabilities: { sampling: {}, roots: { listChanged: true }, experimental: { 'x.y': { deep: [1, 2, 3] } } },
  clientInfo: { name: 'claude-code', version: '1.2.3', title: 'Claude Code' },
};

const reasonOf = (r: OpenResult) => (r.ok ? 'ok' : r.reason);

test('round trip: what initialize negotiated comes back from the id, on any codec of the same server', () => {
  const clock = { now: T0 };
  const ring = new KeyRing([key('k1')]);
  const a = codecFor('tools', ring, clock);
  const b = codecFor('tools', ring, clock); // another replica
  const { id, session } = a.seal(INPUT);
  assert.match(id, /^[\x21-\x7e]+$/, 'visible ASCII: safe as a header value');
  assert.doesNotMatch(id, /[;,]/, 'no separators of envelope session state or header lists');
  assert.ok(id.length <= MAX_SESSION_ID_LENGTH);
  assert.ok(id.startsWith('1k1.'));
  assert.match(session.sessionKey, SESSION_KEY_PATTERN);
  assert.equal(session.issuedAt, T0);
  assert.equal(session.expiresAt, T0 + 10 * HOUR);
  const r = b.open(id);
  assert.ok(r.ok);
  assert.equal(r.kid, 'k1');
  assert.deepEqual(r.session, session);
  assert.deepEqual(r.session.clientCapabilities, INPUT.clientCapabilities);
  assert.deepEqual(r.session.clientInfo, INPUT.clientInfo);
  assert.notEqual(a.seal(INPUT).id, id, 'a fresh iv and session key every time');
});

test('the id reveals nothing it carries', () => {
  const ring = new KeyRing([key('k1')]);
  const { id } = codecFor('tools', ring, { now: T0 }).seal({ ...INPUT, clientInfo: { name: 'VISIBLE-NAME', version: '9' } });
  const body = Buffer.from(id.slice(id.indexOf('.') + 1), 'base64url').toString('latin1');
  assert.ok(!id.includes('VISIBLE') && !body.includes('VISIBLE') && !body.includes('2025-11-25'));
});

test('changing any one character of an id gets it refused', () => {
  const clock = { now: T0 };
  const codec = codecFor('tools', new KeyRing([key('k1')]), clock);
  const { id } = codec.seal(INPUT);
  const alphabet = 'ABCabc019_-.;= ';
  for (let i = 0; i < id.length; i++) {
    for (const c of alphabet) {
      if (c === id[i]) continue;
      const bad = id.slice(0, i) + c + id.slice(i + 1);
      const r = codec.open(bad);
      assert.equal(r.ok, false, `position ${i} altered to ${c} was accepted`);
      if (!r.ok) assert.ok(OPEN_FAILURES.includes(r.reason));
    }
  }
});

test('flipping any bit of the sealed bytes is tampered (or wrong_server in the clear server tag)', () => {
  const codec = codecFor('tools', new KeyRing([key('k1')]), { now: T0 });
  const { id } = codec.seal(INPUT);
  const dot = id.indexOf('.');
  const blob = Buffer.from(id.slice(dot + 1), 'base64url');
  for (let byte = 0; byte < blob.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from(blob);
      b[byte]! ^= 1 << bit;
      const r = codec.open(`${id.slice(0, dot + 1)}${b.toString('base64url')}`);
      assert.equal(reasonOf(r), byte < 4 ? 'wrong_server' : 'tampered', `byte ${byte} bit ${bit}`);
    }
  }
});

test('property: a mutated, truncated or extended id is never accepted and open never throws', () => {
  const codec = codecFor('tools', new KeyRing([key('k1')]), { now: T0 });
  const { id } = codec.seal(INPUT);
  fc.assert(
    fc.property(fc.nat({ max: id.length - 2 }), fc.string({ minLength: 1, maxLength: 8 }), fc.nat({ max: 8 }), (at, insert, cut) => {
      const variants = [id.slice(0, at) + insert + id.slice(at + cut), id.slice(0, at), id + insert];
      for (const v of variants) {
        if (v === id) continue;
        assert.equal(codec.open(v).ok, false, v);
      }
    }),
    { numRuns: 2_000 },
  );
});

test('property: hostile input of any shape is refused with a known reason, never thrown', () => {
  const codec = codecFor('tools', new KeyRing([key('k1')]), { now: T0 });
  const b64 = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 400 });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.string({ unit: 'binary', maxLength: 300 }),
        b64.map((s) => `1k1.${s}`),
        b64.map((s) => `1${s}`),
        fc.anything(),
      ),
      (input) => {
        const r = codec.open(input);
        assert.equal(r.ok, false);
        if (!r.ok) assert.ok(OPEN_FAILURES.includes(r.reason));
      },
    ),
    { numRuns: 3_000 },
  );
  for (const v of [undefined, null, 42, {}, [], '', '1', '1k1', '1k1.', '1.abc', '2k1.AAAA', '1k1.A', '1k1..', `1${'k'.repeat(17)}.AAAA`]) {
    assert.equal(reasonOf(codec.open(v)), 'malformed', String(v));
  }
});

test('an id of another server is refused as wrong_server, also with the same keys, also with its server tag forged', () => {
  const clock = { now: T0 };
  const ring = new KeyRing([key('k1')]);
  const tools = codecFor('tools', ring, clock);
  const files = codecFor('files', ring, clock);
  const { id } = tools.seal(INPUT);
  assert.equal(reasonOf(files.open(id)), 'wrong_server');
  // Forge the clear tag to look like one of files': the per-server key and AAD still refuse it.
  const own = files.seal(INPUT).id;
  const ownBlob = Buffer.from(own.slice(own.indexOf('.') + 1), 'base64url');
  const blob = Buffer.from(id.slice(id.indexOf('.') + 1), 'base64url');
  ownBlob.copy(blob, 0, 0, 4);
  assert.equal(reasonOf(files.open(`1k1.${blob.toString('base64url')}`)), 'tampered');
});

test('an expired id is refused as expired', () => {
  const clock = { now: T0 };
  const codec = codecFor('tools', new KeyRing([key('k1')]), clock, HOUR);
  const { id } = codec.seal(INPUT);
  clock.now = T0 + HOUR - 1;
  assert.ok(codec.open(id).ok);
  clock.now = T0 + HOUR;
  assert.equal(reasonOf(codec.open(id)), 'expired');
});

test('an id sealed by a key the ring does not have is unknown_key; a kid swapped to a known key is tampered', () => {
  const clock = { now: T0 };
  const k1 = key('k1');
  const k2 = key('k2', 1);
  const sealer = codecFor('tools', new KeyRing([k1]), clock);
  const { id } = sealer.seal(INPUT);
  assert.equal(reasonOf(codecFor('tools', new KeyRing([key('other')]), clock).open(id)), 'unknown_key');
  assert.equal(reasonOf(codecFor('tools', new KeyRing([k1, k2]), clock).open(`1k2${id.slice(3)}`)), 'tampered');
  // Same kid, another secret (a ring regenerated by mistake): tampered, not accepted.
  assert.equal(reasonOf(codecFor('tools', new KeyRing([key('k1')]), clock).open(id)), 'tampered');
  assert.equal(reasonOf(codecFor('tools', undefined, clock).open(id)), 'unknown_key');
});

test('rotation: the new key signs once active; ids of the old one are accepted until the grace ends, then refused', () => {
  const clock = { now: T0 };
  const graceMs = 2 * HOUR;
  const k1 = key('k1', T0 - HOUR);
  const before = codecFor('tools', new KeyRing([k1], graceMs), clock, 48 * HOUR);
  const old = before.seal(INPUT).id;
  const k2 = key('k2', T0 + HOUR); // written to every replica an hour before it signs
  let ring = new KeyRing([k1, k2], graceMs);
  const during = codecFor('tools', ring, clock, 48 * HOUR);
  assert.ok(during.seal(INPUT).id.startsWith('1k1.'), 'k2 is not active yet');
  clock.now = T0 + HOUR;
  const fresh = during.seal(INPUT).id;
  assert.ok(fresh.startsWith('1k2.'));
  assert.ok(during.open(old).ok, 'k1 ids in grace');
  clock.now = T0 + HOUR + graceMs - 1;
  assert.ok(during.open(old).ok, 'k1 ids until the last millisecond of grace');
  clock.now = T0 + HOUR + graceMs;
  assert.equal(reasonOf(during.open(old)), 'unknown_key', 'k1 ids after grace');
  assert.ok(during.open(fresh).ok);
  // An explicit retireAt wins over the grace.
  ring = new KeyRing([key('k3', 0, T0 + 10), key('k4', T0 + 5)], graceMs);
  clock.now = T0 + 10;
  assert.equal(ring.verifier('k3', clock.now), undefined);
  assert.equal(ring.signer(clock.now)?.kid, 'k4');
});

test('refuses to issue an id whose payload exceeds the bound, and every id it issues fits MAX_SESSION_ID_LENGTH', () => {
  const codec = codecFor('tools', new KeyRing([key('kkkkkkkkkkkkkkkk')]), { now: T0 });
  let longest = 0;
  let refused = 0;
  for (let pad = 3_800; pad <= 4_200; pad += 1) {
    try {
      const { id } = codec.seal({ ...INPUT, clientInfo: { name: 'x'.repeat(pad), version: '1' } });
      longest = Math.max(longest, id.length);
    } catch (err) {
      assert.ok(err instanceof SessionIdError);
      assert.equal(err.code, 'payload_too_large');
      assert.match(err.message, new RegExp(`over the ${MAX_SESSION_PAYLOAD_BYTES}-byte bound`));
      refused++;
    }
  }
  assert.ok(refused > 0 && longest > 0);
  assert.ok(longest <= MAX_SESSION_ID_LENGTH, `${longest} > ${MAX_SESSION_ID_LENGTH}`);
  assert.ok(longest >= MAX_SESSION_ID_LENGTH - 4, 'the bound is tight');
});

test('refuses to issue without a signing key, or with a client info that is not one', () => {
  const clock = { now: T0 };
  assert.throws(
    () => codecFor('tools', undefined, clock).seal(INPUT),
    (e) => e instanceof SessionIdError && e.code === 'no_signing_key',
  );
  assert.throws(
    () => codecFor('tools', new KeyRing([key('k1', T0 + 1)]), clock).seal(INPUT),
    (e) => e instanceof SessionIdError && e.code === 'no_signing_key',
  );
  const bad = { ...INPUT, clientInfo: { name: 'x' } as unknown as SealInput['clientInfo'] };
  assert.throws(
    () => codecFor('tools', new KeyRing([key('k1')]), clock).seal(bad),
    (e) => e instanceof SessionIdError && e.code === 'invalid_input',
  );
});

test('over-long input is refused before any decoding, in time that does not grow with it', () => {
  const codec = codecFor('tools', new KeyRing([key('k1')]), { now: T0 });
  const huge = `1k1.${'A'.repeat(10_000_000)}`;
  const atBound = `1k1.${'A'.repeat(MAX_SESSION_ID_LENGTH - 4)}`;
  assert.equal(reasonOf(codec.open(huge)), 'malformed');
  assert.equal(reasonOf(codec.open(`1k1.${'A'.repeat(MAX_SESSION_ID_LENGTH)}`)), 'malformed');
  const started = performance.now();
  for (let i = 0; i < 1_000; i++) codec.open(huge);
  const perHuge = (performance.now() - started) / 1_000;
  assert.ok(perHuge < 0.05, `${perHuge} ms per 10 MB input`);
  // At the bound it is decoded and refused, still well under a millisecond.
  const s2 = performance.now();
  for (let i = 0; i < 200; i++) assert.notEqual(reasonOf(codec.open(atBound)), 'ok');
  assert.ok((performance.now() - s2) / 200 < 1);
});
