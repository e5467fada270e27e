// The requestState of a bridged multi round-trip request: what the holder
// sealed comes back on any replica sharing the ring; an altered, foreign,
// expired or re-aimed state does not open, and no input makes open() throw.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { callBinding, MAX_REQUEST_STATE_LENGTH, type MrtrState, MrtrStateCodec } from '../../../../adapter/modern/mrtr-state-codec.js';
import { SessionIdCodec } from '../../../../adapter/sessions/session-id-codec.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function ring(...kids: string[]): KeyRing {
  return new KeyRing(kids.map((kid, i) => new SessionKey(kid, randomBytes(32), i * 1000, undefined)));
}

function codec(server: string, keys: KeyRing | undefined, clock: { now: number }): MrtrStateCodec {
  return new MrtrStateCodec({ server, keys: () => keys, now: () => clock.now });
}

const STATE: MrtrState = {
  holdId: MrtrStateCodec.newHoldId(),
  replicaId: 'replica-1',
  holderUrl: 'http://127.0.0.1:17001/mcp',
  binding: callBinding('tools/call', { name: 'elicit', arguments: { question: 'q' } }),
  expiresAt: T0 + 60_000,
};

test('round trip on another replica with the same ring', () => {
  const clock = { now: T0 + 5_000 };
  const keys = ring('k1');
  const sealed = codec('tools', keys, clock).seal(STATE)!;
  assert.match(sealed, /^mk1\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(codec('tools', keys, clock).open(sealed), { ok: true, state: STATE });
});

test('altered, foreign, expired and unknown-key states do not open', () => {
  const clock = { now: T0 + 5_000 };
  const keys = ring('k1');
  const sealed = codec('tools', keys, clock).seal(STATE)!;
  const reason = (r: ReturnType<MrtrStateCodec['open']>) => (r.ok ? 'ok' : r.reason);
  for (let i = 4; i < sealed.length; i++) {
    const c = sealed[i] === 'A' ? 'B' : 'A';
    assert.notEqual(reason(codec('tools', keys, clock).open(sealed.slice(0, i) + c + sealed.slice(i + 1))), 'ok', `altered at ${i}`);
  }
  assert.equal(reason(codec('notes', keys, clock).open(sealed)), 'tampered', 'another server');
  assert.equal(reason(codec('tools', ring('k1'), clock).open(sealed)), 'tampered', 'another ring, same kid');
  assert.equal(reason(codec('tools', ring('k2'), clock).open(sealed)), 'unknown_key');
  assert.equal(reason(codec('tools', keys, { now: STATE.expiresAt }).open(sealed)), 'expired');
  assert.equal(reason(codec('tools', undefined, clock).open(sealed)), 'unknown_key');
  assert.equal(reason(codec('tools', keys, clock).open('x'.repeat(MAX_REQUEST_STATE_LENGTH + 1))), 'malformed');
  // A session id of the same server and ring is no state.
  const sid = new SessionIdCodec({ server: 'tools', keys: () => keys, now: () => clock.now }).seal({
    protocolVersion: '2025-11-25',
    clientCapabilities: {},
    clientInfo: { name: 'c', version: '1' },
  }).id;
  assert.equal(reason(codec('tools', keys, clock).open(sid)), 'malformed');
  assert.equal(codec('tools', undefined, clock).seal(STATE), undefined, 'no key, no state');
});

test('the binding names the call: the envelope and the retry members do not count, the arguments do', () => {
  const a = callBinding('tools/call', { name: 'elicit', arguments: { question: 'q' } });
  assert.equal(
    a,
    callBinding('tools/call', { name: 'elicit', arguments: { question: 'q' }, _meta: { x: 1 }, inputResponses: {}, requestState: 's' }),
  );
  assert.notEqual(a, callBinding('tools/call', { name: 'elicit', arguments: { question: 'r' } }));
  assert.notEqual(a, callBinding('tools/call', { name: 'sample', arguments: { question: 'q' } }));
  assert.notEqual(a, callBinding('prompts/get', { name: 'elicit', arguments: { question: 'q' } }));
});

test('open() never throws and refuses whatever was not sealed', () => {
  const clock = { now: T0 };
  const c = codec('tools', ring('k1'), clock);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((s) => `mk1.${Buffer.from(s).toString('base64url')}`),
        fc.anything(),
      ),
      (input) => {
        assert.equal(c.open(input).ok, false);
      },
    ),
    { numRuns: 2_000 },
  );
});
