// SessionHandover on its own: ids issued and adopted with the state the
// store holds, one adoption for concurrent requests of one id, refusals by
// reason, a DELETE final everywhere, state writes in order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import { createAdapterMetrics } from '../../../../adapter/metrics.js';
import type { McpWorker } from '../../../../adapter/pool/mcp-worker.js';
import type { ProcessPool } from '../../../../adapter/pool/process-pool.js';
import type { Session } from '../../../../adapter/sessions/session.js';
import { SessionHandover } from '../../../../adapter/sessions/session-handover.js';
import { SessionIdCodec } from '../../../../adapter/sessions/session-id-codec.js';
import type { SessionKeeper } from '../../../../adapter/sessions/session-keeper.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';
import { SessionLimiter, type SessionOrigin } from '../../../../adapter/sessions/session-limits.js';
import { MemorySessionStateStore } from '../../../../adapter/sessions/session-state-store.js';
import { SessionTable } from '../../../../adapter/sessions/session-table.js';

const ring = new KeyRing([new SessionKey('k1', randomBytes(32), 0, undefined)]);
const ORIGIN: SessionOrigin = { client: 'addr:10.0.0.1', source: '10.0.0.1' };

function replica(store: MemorySessionStateStore, opts: { draining?: boolean; perClient?: number } = {}) {
  const sessions = new SessionTable();
  const limiter = new SessionLimiter({ maxSessions: 10, perClient: opts.perClient ?? 10, perSource: 10, initTimeoutMs: 10_000 });
  const metrics = createAdapterMetrics('srv');
  const replayed: Session[] = [];
  const pool = { isDraining: opts.draining ?? false, slotForSession: () => 0 } as unknown as ProcessPool<McpWorker, Session>;
  const keeper = {
    adopted: async (s: Session) => {
      await new Promise((r) => setTimeout(r, 5));
      replayed.push(s);
    },
  } as unknown as SessionKeeper;
  const handover = new SessionHandover({
    codec: new SessionIdCodec({ server: 'srv', keys: () => ring }),
    store,
    sessions,
    pool,
    keeper,
    metrics,
    logger: pino({ level: 'silent' }),
    limiter,
  });
  const counter = async (name: string, labels: string) => {
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return { sessions, handover, replayed, counter, limiter };
}

function issued(h: SessionHandover): Session {
  const r = h.issue(0, '2025-06-18', { elicitation: {} }, { name: 'client', version: '9' }, ORIGIN);
  assert.equal(r.kind, 'session');
  return (r as { session: Session }).session;
}

test('a session issued on one replica is adopted on another with its version, capabilities, info and stored state', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store);
  const b = replica(store);
  const s = issued(a.handover);
  assert.equal(a.sessions.get(s.id), s);
  s.setLogLevel('warning');
  s.subscribe('file:///a');
  await a.handover.save(s);
  const [x, y] = await Promise.all([b.handover.adopt(s.id, 'post', ORIGIN), b.handover.adopt(s.id, 'get', ORIGIN)]);
  assert.equal(x.kind, 'session');
  assert.equal(x, y, 'concurrent requests of one id share one adoption');
  const adopted = (x as { session: Session }).session;
  assert.equal(adopted.id, s.id);
  assert.equal(adopted.protocolVersion, '2025-06-18');
  assert.equal(adopted.abilities.elicitation, true);
  assert.deepEqual(adopted.portable?.clientInfo, { name: 'client', version: '9' });
  assert.equal(adopted.logLevel, 'warning');
  assert.deepEqual([...adopted.subscriptions], ['file:///a']);
  assert.deepEqual(b.replayed, [adopted], 'the state is replayed before the request goes on');
  assert.equal(b.sessions.get(s.id), adopted);
  assert.equal(await b.counter('mcpmesh_adapter_sessions_adopted_total', 'via="post"'), 1);
});

test('refusals by reason; DELETE on any replica is final on every replica', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store);
  const b = replica(store);
  const refused = async (id: string) => {
    const r = await b.handover.adopt(id, 'post', ORIGIN);
    return r.kind === 'refused' ? r.reason : r.kind;
  };
  assert.equal(await refused('garbage'), 'malformed');
  const s = issued(a.handover);
  // A character in the middle of the token is ciphertext.
  const i = Math.floor(s.id.length / 2);
  assert.equal(await refused(s.id.slice(0, i) + (s.id[i] === 'A' ? 'B' : 'A') + s.id.slice(i + 1)), 'tampered');
  assert.equal(await b.handover.endUnknown(s.id), undefined, 'ended from a replica that never saw it');
  assert.equal(await refused(s.id), 'ended');
  assert.equal(await b.handover.endUnknown(s.id), 'ended');
  assert.equal(await b.counter('mcpmesh_adapter_session_ids_refused_total', 'reason="ended"'), 2);
  assert.equal(await b.counter('mcpmesh_adapter_session_ids_refused_total', 'reason="malformed"'), 1);
  const t = issued(a.handover);
  await a.handover.end(t);
  assert.equal(await refused(t.id), 'ended');
});

test('a draining replica does not adopt: retryable elsewhere', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store);
  const d = replica(store, { draining: true });
  const r = await d.handover.adopt(issued(a.handover).id, 'post', ORIGIN);
  assert.equal(r.kind, 'unavailable');
});

test('state writes of one session land in order, each with the state as it is then', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store);
  const s = issued(a.handover);
  s.setLogLevel('debug');
  const first = a.handover.save(s);
  s.subscribe('u1');
  s.setLogLevel('error');
  const second = a.handover.save(s);
  await Promise.all([first, second]);
  assert.deepEqual(await store.get(s.portable!.sessionKey), { logLevel: 'error', subscriptions: ['u1'] });
});

/** A store that counts what is asked of it. */
class CountingStore extends MemorySessionStateStore {
  reads = 0;
  writes = 0;
  override get(key: string) {
    this.reads++;
    return super.get(key);
  }
  override put(...args: Parameters<MemorySessionStateStore['put']>) {
    this.writes++;
    return super.put(...args);
  }
}

test('initialize writes nothing to the shared store; a new session is pending until its client follows up', () => {
  const store = new CountingStore();
  const a = replica(store);
  for (let i = 0; i < 5; i++) issued(a.handover);
  assert.deepEqual([store.reads, store.writes], [0, 0]);
  assert.equal(a.limiter.pendingCount, 5);
  assert.deepEqual(a.limiter.countOf(ORIGIN), { client: 5, source: 5 });
});

test('a flood of forged ids is refused by the codec, before any store read, in microseconds each', async () => {
  const store = new CountingStore();
  const a = replica(store);
  const b = replica(store);
  const real = issued(a.handover).id;
  const forged = Array.from({ length: 2_000 }, (_, i) => {
    const j = 10 + (i % (real.length - 20));
    return real.slice(0, j) + (real[j] === 'A' ? 'B' : 'A') + real.slice(j + 1);
  });
  const started = performance.now();
  const answers = await Promise.all(forged.map((id) => b.handover.adopt(id, 'post', ORIGIN)));
  const perId = ((performance.now() - started) * 1000) / forged.length;
  assert.ok(answers.every((x) => x.kind === 'refused'));
  assert.equal(store.reads, 0, 'no store read for an id that does not open');
  assert.equal(b.sessions.size, 0);
  // About 6 µs of codec work each; the bound leaves room for a slow, shared CI machine.
  assert.ok(perId < 200, `${perId.toFixed(1)} µs per forged id`);
});

test('adopted sessions count against their client: beyond its limit, limited (429), not retryable elsewhere; a full replica is', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store);
  const b = replica(store, { perClient: 2 });
  const ids = [issued(a.handover), issued(a.handover), issued(a.handover)].map((s) => s.id);
  assert.equal((await b.handover.adopt(ids[0]!, 'post', ORIGIN)).kind, 'session');
  assert.equal((await b.handover.adopt(ids[1]!, 'post', ORIGIN)).kind, 'session');
  assert.equal(b.limiter.pendingCount, 0, 'a request brought them: not pending');
  const third = await b.handover.adopt(ids[2]!, 'post', ORIGIN);
  assert.equal(third.kind, 'limited');
  assert.equal(third.kind === 'limited' && third.refusal.reason, 'client_limit');
  // Another client on the same replica: fits.
  const other = await b.handover.adopt(ids[2]!, 'post', { client: 'addr:10.0.0.2', source: '10.0.0.2' });
  assert.equal(other.kind, 'session');
  // Concurrent adoptions of distinct ids cannot overshoot the limit while the store answers.
  const c = replica(store, { perClient: 1 });
  const race = await Promise.all(ids.map((id) => c.handover.adopt(id, 'post', ORIGIN)));
  assert.deepEqual(race.map((r) => r.kind).sort(), ['limited', 'limited', 'session']);
});
