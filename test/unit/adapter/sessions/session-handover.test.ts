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
import { SessionHandover } from '../../../../adapter/sessions/session-handover.js';
import { SessionIdCodec } from '../../../../adapter/sessions/session-id-codec.js';
import type { SessionKeeper } from '../../../../adapter/sessions/session-keeper.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';
import { MemorySessionStateStore } from '../../../../adapter/sessions/session-state-store.js';
import { SessionTable } from '../../../../adapter/sessions/session-table.js';
import type { Session } from '../../../../adapter/sessions/session.js';

const ring = new KeyRing([new SessionKey('k1', randomBytes(32), 0, undefined)]);

function replica(store: MemorySessionStateStore, opts: { draining?: boolean } = {}) {
  const sessions = new SessionTable();
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
    maxSessions: 10,
  });
  const counter = async (name: string, labels: string) => {
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return { sessions, handover, replayed, counter };
}

function issued(h: SessionHandover): Session {
  const r = h.issue(0, '2025-06-18', { elicitation: {} }, { name: 'client', version: '9' });
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
  const [x, y] = await Promise.all([b.handover.adopt(s.id, 'post'), b.handover.adopt(s.id, 'get')]);
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
    const r = await b.handover.adopt(id, 'post');
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
  const r = await d.handover.adopt(issued(a.handover).id, 'post');
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
