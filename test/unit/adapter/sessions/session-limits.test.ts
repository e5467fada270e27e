// The session limiter on its own (what an unauthenticated initialize may
// cost), and how a request's client and source are told.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { clientOrigin, proxiedAgentIdentity, sourceKey } from '../../../../adapter/http/client-origin.js';
import { ANY_PEER, trustedProxies } from '../../../../adapter/http/trusted-proxies.js';
import { Session } from '../../../../adapter/sessions/session.js';
import { SessionLimiter, type SessionOrigin } from '../../../../adapter/sessions/session-limits.js';

const NONE = { sampling: false, elicitation: false, roots: false };
let n = 0;
const session = (): Session => new Session(`s${n++}`, 0, '2025-06-18', NONE);
const from = (addr: string, identity?: string): SessionOrigin => ({
  client: identity !== undefined ? `id:${identity}` : `addr:${addr}`,
  source: addr,
});

function limiter(opts: Partial<{ maxSessions: number; perClient: number; perSource: number; initTimeoutMs: number }> = {}) {
  const clock = { now: 1_000_000 };
  const l = new SessionLimiter({ maxSessions: 100, perClient: 3, perSource: 5, initTimeoutMs: 10_000, ...opts, now: () => clock.now });
  return { l, clock };
}

test('per client: the limit refuses the next one with why and when, other clients go on', () => {
  const { l, clock } = limiter();
  const a = from('10.0.0.1');
  for (let i = 0; i < 3; i++) {
    assert.equal(l.check(a), undefined);
    l.admit(session(), a, true);
    clock.now += 1_000;
  }
  const r = l.check(a);
  assert.equal(r?.reason, 'client_limit');
  assert.equal(r?.limit, 3);
  // The oldest pending one expires 10 s after it was issued, 3 s ago.
  assert.equal(r?.retryAfterSeconds, 7);
  assert.match(
    r!.message,
    /^Too many sessions: this client has 3 sessions open on this replica, the most --max-sessions-per-client allows\. A session that never sends notifications\/initialized expires after 10 s; .*Not retried on another replica: retry after 7 s$/,
  );
  assert.equal(l.check(from('10.0.0.2')), undefined);
});

test('per source: identities behind one address share its limit', () => {
  const { l } = limiter();
  for (let i = 0; i < 5; i++) {
    const o = from('10.0.0.9', `user${i}`);
    assert.equal(l.check(o), undefined);
    l.admit(session(), o, false);
  }
  const r = l.check(from('10.0.0.9', 'user9'));
  assert.equal(r?.reason, 'source_limit');
  assert.equal(r?.retryAfterSeconds, 60, 'nothing pending: a minute');
  assert.equal(l.check(from('10.0.0.8', 'user9')), undefined);
});

test('per replica: max_sessions over every client', () => {
  const { l } = limiter({ maxSessions: 4 });
  for (let i = 0; i < 4; i++) l.admit(session(), from(`10.0.1.${i}`), true);
  assert.equal(l.check(from('10.0.2.1'))?.reason, 'max_sessions');
  assert.equal(l.size, 4);
});

test('pending sessions expire after the init timeout, oldest first; confirmed ones never do; release frees the slot', () => {
  const { l, clock } = limiter({ perClient: 10 });
  const a = from('10.0.0.1');
  const early = session();
  const kept = session();
  const late = session();
  l.admit(early, a, true);
  l.admit(kept, a, true);
  clock.now += 5_000;
  l.admit(late, a, true);
  l.confirmed(kept);
  assert.deepEqual(l.expired(clock.now + 9_999 - 5_000), []);
  assert.deepEqual(l.expired(clock.now + 5_000), [early]);
  assert.deepEqual(l.expired(clock.now + 10_000), [early, late]);
  assert.equal(l.pendingCount, 2);
  for (const s of l.expired(clock.now + 10_000)) l.release(s);
  assert.equal(l.pendingCount, 0);
  assert.deepEqual(l.countOf(a), { client: 1, source: 1 });
  l.release(kept);
  l.release(kept);
  assert.deepEqual(l.countOf(a), { client: 0, source: 0 }, 'released once, counted once');
  assert.equal(l.size, 0);
});

test('a flood from one client: bounded state, refusals in O(1), and the limit frees itself after the init timeout', () => {
  const { l, clock } = limiter({ maxSessions: 10_000, perClient: 1_000, perSource: 4_000 });
  const flood = from('10.9.9.9');
  let admitted = 0;
  let refused = 0;
  const started = performance.now();
  for (let i = 0; i < 30_000; i++) {
    if (l.check(flood) !== undefined) {
      refused++;
      continue;
    }
    l.admit(session(), flood, true);
    admitted++;
  }
  const ms = performance.now() - started;
  assert.deepEqual([admitted, refused, l.size], [1_000, 29_000, 1_000]);
  assert.ok(ms < 1_000, `${ms} ms for 30,000 initializes`);
  assert.equal(l.check(from('10.0.0.1')), undefined, 'another client fits');
  clock.now += 10_000;
  for (const s of l.expired()) l.release(s);
  assert.equal(l.size, 0);
  assert.equal(l.check(flood), undefined);
});

test('options are checked', () => {
  assert.throws(() => new SessionLimiter({ maxSessions: 0, perClient: 1, perSource: 1, initTimeoutMs: 1 }), /maxSessions/);
});

function req(remoteAddress: string, xff?: string | string[]): IncomingMessage {
  return { socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

const NO_PROXY = trustedProxies([]);
const ANY = trustedProxies(ANY_PEER);

test('client origin: the peer, unless it is a trusted proxy, and then only the last hop of X-Forwarded-For', () => {
  assert.deepEqual(clientOrigin(req('127.0.0.1', '10.1.1.1'), { proxies: NO_PROXY }), {
    client: 'addr:127.0.0.1',
    source: '127.0.0.1',
  });
  assert.deepEqual(clientOrigin(req('127.0.0.1', '6.6.6.6, 10.1.1.1'), { proxies: ANY }), {
    client: 'addr:10.1.1.1',
    source: '10.1.1.1',
  });
  assert.deepEqual(clientOrigin(req('127.0.0.1', ['6.6.6.6', '10.1.1.2']), { proxies: ANY }).source, '10.1.1.2');
  assert.equal(clientOrigin(req('127.0.0.1', 'not-an-address'), { proxies: ANY }).source, '127.0.0.1');
  assert.equal(clientOrigin(req('127.0.0.1'), { proxies: ANY }).source, '127.0.0.1');
  assert.equal(clientOrigin(req('::ffff:10.0.0.3'), { proxies: NO_PROXY }).source, '10.0.0.3');
  // The identity hook, once there is one, names the client; the source still counts.
  assert.deepEqual(clientOrigin(req('10.0.0.3'), { proxies: NO_PROXY, identity: () => 'spiffe://mesh/agent' }), {
    client: 'id:spiffe://mesh/agent',
    source: '10.0.0.3',
  });
  assert.equal(clientOrigin(req('10.0.0.3'), { proxies: NO_PROXY, identity: () => undefined }).client, 'addr:10.0.0.3');
});

test('trusted proxies: only a listed peer is believed, one hop, IPv4-mapped peers as IPv4', () => {
  const proxies = trustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  // Envoy on loopback or in 10/8 appends the agent's address.
  assert.equal(clientOrigin(req('127.0.0.1', '6.6.6.6, 192.0.2.7'), { proxies }).source, '192.0.2.7');
  assert.equal(clientOrigin(req('::ffff:10.2.3.4', '192.0.2.8'), { proxies }).source, '192.0.2.8');
  assert.equal(clientOrigin(req('fd00::9', '2001:db8:1:2::7'), { proxies }).source, '2001:db8:1:2::/64');
  // An agent that reaches the adapter around the proxy is its own source, whatever it writes.
  assert.equal(clientOrigin(req('192.0.2.50', '10.9.9.9'), { proxies }).source, '192.0.2.50');
  assert.equal(clientOrigin(req('127.0.0.2', '10.9.9.9'), { proxies }).source, '127.0.0.2');
  // One hop: an agent on a trusted address (Envoy's own host) cannot walk the list further left.
  assert.equal(clientOrigin(req('127.0.0.1', '6.6.6.6, 127.0.0.1'), { proxies }).source, '127.0.0.1');
  // The old on/off flag is every peer, one hop.
  assert.equal(clientOrigin(req('192.0.2.50', '10.9.9.9'), { proxies: ANY }).source, '10.9.9.9');
  assert.equal(clientOrigin(req('2001:db8::1', '10.9.9.9'), { proxies: ANY }).source, '10.9.9.9');
});

test('trusted proxies: a bad entry is refused with its reason', () => {
  assert.throws(
    () => trustedProxies(['10.0.0.0/33', 'envoy.internal', '::/129', '10.0.0.1/x']),
    (err: Error) => {
      assert.match(err.message, /"10\.0\.0\.0\/33": the prefix length must be 0 to 32/);
      assert.match(err.message, /"envoy\.internal" is not an IP address or CIDR block/);
      assert.match(err.message, /"::\/129": the prefix length must be 0 to 128/);
      assert.match(err.message, /"10\.0\.0\.1\/x"/);
      return true;
    },
  );
  assert.equal(trustedProxies([]).trusts('127.0.0.1'), false);
});

test('an IPv6 source counts by its /64', () => {
  assert.equal(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:0db8:0001:0002::5%eth0'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('::1'), '0:0:0:0::/64');
  assert.equal(sourceKey('64:ff9b::10.0.0.1'), '64:ff9b:0:0::/64');
  assert.equal(sourceKey('192.168.1.1'), '192.168.1.1');
});

test('client origin on one connection: each request its own X-Forwarded-For, each proxy list its own verdict', () => {
  const socket = { remoteAddress: '127.0.0.1' };
  const on = (xff?: string): IncomingMessage =>
    ({ socket, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;
  const loopback = trustedProxies(['127.0.0.1']);
  // A proxy's connection carries one agent after another: the source follows the header of each request.
  assert.equal(clientOrigin(on('10.1.1.1'), { proxies: loopback }).source, '10.1.1.1');
  assert.equal(clientOrigin(on('10.1.1.1'), { proxies: loopback }).source, '10.1.1.1');
  assert.equal(clientOrigin(on('10.1.1.2'), { proxies: loopback }).source, '10.1.1.2');
  assert.equal(clientOrigin(on('2001:db8:1:2::7'), { proxies: loopback }).source, '2001:db8:1:2::/64');
  assert.equal(clientOrigin(on(), { proxies: loopback }).source, '127.0.0.1');
  assert.equal(clientOrigin(on('not-an-address'), { proxies: loopback }).source, '127.0.0.1');
  // The same connection and header under a list that does not trust the peer: the peer.
  assert.equal(clientOrigin(on('10.1.1.2'), { proxies: NO_PROXY }).source, '127.0.0.1');
  assert.equal(clientOrigin(on('10.1.1.2'), { proxies: loopback }).source, '10.1.1.2');
});

test('a trusted-proxy list answers the same for an address however often it is asked, past its memory', () => {
  const proxies = trustedProxies(['10.0.0.0/8', '::1']);
  for (let i = 0; i < 3000; i++) {
    assert.equal(proxies.trusts(`10.0.${i >> 8}.${i & 255}`), true);
    assert.equal(proxies.trusts(`11.0.${i >> 8}.${i & 255}`), false);
  }
  assert.equal(proxies.trusts('::ffff:10.1.2.3'), true);
  assert.equal(proxies.trusts('::1'), true);
  assert.equal(proxies.trusts('::2'), false);
  assert.equal(proxies.trusts('not-an-address'), false);
});

test('the agent identity header names the client only when a trusted proxy sent it', () => {
  const withAgent = (peer: string, agent: string | string[]): IncomingMessage =>
    ({
      socket: { remoteAddress: peer },
      headers: { 'x-forwarded-for': '10.1.1.1', 'x-mcpmesh-agent': agent },
    }) as unknown as IncomingMessage;
  const loopback = trustedProxies(['127.0.0.1']);
  const opts = { proxies: loopback, identity: proxiedAgentIdentity(loopback) };
  // Envoy (trusted) passes the verified subject: that is the client; the source is still the agent's address.
  assert.deepEqual(clientOrigin(withAgent('127.0.0.1', 'agent-7'), opts), { client: 'id:agent-7', source: '10.1.1.1' });
  // An agent reaching the adapter around Envoy cannot name itself.
  assert.deepEqual(clientOrigin(withAgent('10.9.9.9', 'agent-7'), opts), { client: 'addr:10.9.9.9', source: '10.9.9.9' });
  // Empty, repeated or oversized values are no identity.
  assert.equal(clientOrigin(withAgent('127.0.0.1', ''), opts).client, 'addr:10.1.1.1');
  assert.equal(clientOrigin(withAgent('127.0.0.1', ['a', 'b']), opts).client, 'addr:10.1.1.1');
  assert.equal(clientOrigin(withAgent('127.0.0.1', 'x'.repeat(513)), opts).client, 'addr:10.1.1.1');
});
