// A replica that was paused (SIGSTOP, a frozen VM) checks the sessions it
// holds with the shared store before serving them again: one another replica
// took over meanwhile is given up and adopted afresh with the store's state,
// one ended there is refused, one that did not move is kept as it is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import { createAdapterMetrics } from '../../../../adapter/metrics.js';
import type { McpWorker } from '../../../../adapter/pool/mcp-worker.js';
import type { ProcessPool } from '../../../../adapter/pool/process-pool.js';
import { PauseWatch } from '../../../../adapter/sessions/pause-watch.js';
import type { Session } from '../../../../adapter/sessions/session.js';
import { SessionHandover } from '../../../../adapter/sessions/session-handover.js';
import { SessionIdCodec } from '../../../../adapter/sessions/session-id-codec.js';
import type { SessionKeeper } from '../../../../adapter/sessions/session-keeper.js';
import { KeyRing, SessionKey } from '../../../../adapter/sessions/session-keys.js';
import { SessionLimiter, type SessionOrigin } from '../../../../adapter/sessions/session-limits.js';
import { SessionRecheck } from '../../../../adapter/sessions/session-recheck.js';
import { MemorySessionStateStore } from '../../../../adapter/sessions/session-state-store.js';
import { SessionTable } from '../../../../adapter/sessions/session-table.js';

const ring = new KeyRing([new SessionKey('k1', randomBytes(32), 0, undefined)]);
const ORIGIN: SessionOrigin = { client: 'addr:10.0.0.1', source: '10.0.0.1' };

function replica(store: MemorySessionStateStore, holder: string) {
  const sessions = new SessionTable();
  const limiter = new SessionLimiter({ maxSessions: 10, perClient: 10, perSource: 10, initTimeoutMs: 10_000 });
  const metrics = createAdapterMetrics('srv');
  const closed: Session[] = [];
  const pool = { isDraining: false, slotForSession: () => 0 } as unknown as ProcessPool<McpWorker, Session>;
  const keeper = {
    adopted: async () => undefined,
    close: (s: Session) => {
      s.end();
      sessions.delete(s);
      limiter.release(s);
      closed.push(s);
    },
  } as unknown as SessionKeeper;
  const logger = pino({ level: 'silent' });
  const recheck = new SessionRecheck({ sessions, store, keeper, holder, logger, released: (r) => metrics.sessionReleased(r) });
  const handover = new SessionHandover({
    codec: new SessionIdCodec({ server: 'srv', keys: () => ring }),
    store,
    sessions,
    pool,
    keeper,
    metrics,
    logger,
    limiter,
    holder,
    recheck,
  });
  const released = async (reason: string) => {
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith('mcpmesh_adapter_sessions_released_total{') && l.includes(`reason="${reason}"`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return { sessions, handover, recheck, closed, released };
}

function issued(h: SessionHandover): Session {
  const r = h.issue(0, '2025-06-18', {}, { name: 'client', version: '9' }, ORIGIN);
  assert.equal(r.kind, 'session');
  return (r as { session: Session }).session;
}

async function adopted(h: SessionHandover, id: string): Promise<Session> {
  const a = await h.adopt(id, 'post', ORIGIN);
  assert.equal(a.kind, 'session', JSON.stringify(a));
  return (a as { session: Session }).session;
}

test('a pause watch sees the clock jump, on its timer or on a look from the request path', () => {
  let now = 0;
  const gaps: number[] = [];
  const w = new PauseWatch({ thresholdMs: 1_000, now: () => now, onPause: (g) => gaps.push(g) });
  now = 5_000;
  assert.equal(w.check(), false, 'not started: requests far apart are no pause');
  w.start();
  try {
    now += 200;
    assert.equal(w.check(), false);
    now += 999;
    assert.equal(w.check(), false);
    now += 4_000;
    assert.equal(w.check(), true);
    assert.deepEqual(gaps, [4_000]);
    assert.equal(w.check(), false, 'once per pause');
  } finally {
    w.stop();
  }
});

test('after a pause: a session another replica took over is given up and adopted afresh with its state', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store, 'replicaA');
  const b = replica(store, 'replicaB');
  const s = issued(a.handover);
  s.setLogLevel('error');
  s.subscribe('file:///a');
  await a.handover.save(s);
  // A is paused; Envoy moves the session to B, where the client changes its state.
  const onB = await adopted(b.handover, s.id);
  assert.equal(onB.logLevel, 'error');
  onB.setLogLevel('debug');
  onB.unsubscribe('file:///a');
  onB.subscribe('file:///b');
  await b.handover.save(onB);
  assert.equal((await store.get(onB.portable!.sessionKey))?.holder, 'replicaB');
  // A resumes.
  await a.recheck.paused(5_000);
  assert.equal(a.sessions.get(s.id), undefined, 'given up in the background');
  assert.deepEqual(a.closed, [s]);
  assert.equal(s.closed, true, 'its GET stream ends with it');
  assert.equal(await a.released('moved'), 1);
  // A request of the session reaching A again adopts it with the state B left.
  assert.equal(a.handover.mustRecheck(s), false);
  const again = await adopted(a.handover, s.id);
  assert.notEqual(again, s);
  assert.equal(again.logLevel, 'debug');
  assert.deepEqual([...again.subscriptions], ['file:///b']);
  assert.equal((await store.get(s.portable!.sessionKey))?.holder, 'replicaA', 'A holds it now');
});

test('after a pause: a session that did not move is kept; a request waits for its check', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store, 'replicaA');
  const quiet = issued(a.handover);
  const saved = issued(a.handover);
  saved.setLogLevel('info');
  await a.handover.save(saved);
  const background = a.recheck.paused(2_000);
  assert.equal(a.handover.mustRecheck(quiet), true, 'suspect until checked');
  // The request path: adopt() of a held suspect session checks it and hands back the same session.
  assert.equal(await adopted(a.handover, quiet.id), quiet);
  await background;
  assert.equal(await adopted(a.handover, saved.id), saved);
  assert.equal(a.handover.mustRecheck(saved), false);
  assert.deepEqual(a.closed, []);
  assert.equal(await a.released('moved'), 0);
});

test('after a pause: a session ended on another replica is given up and refused', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store, 'replicaA');
  const b = replica(store, 'replicaB');
  const s = issued(a.handover);
  const onB = await adopted(b.handover, s.id);
  await b.handover.end(onB);
  await a.recheck.paused(3_000);
  assert.equal(await a.released('ended'), 1);
  const again = await a.handover.adopt(s.id, 'post', ORIGIN);
  assert.deepEqual(again, { kind: 'refused', reason: 'ended' });
});

test('after a pause: a store that does not answer gives the session up rather than serve it stale', async () => {
  const store = new MemorySessionStateStore();
  const a = replica(store, 'replicaA');
  const s = issued(a.handover);
  const get = store.get.bind(store);
  store.get = async () => {
    throw new Error('store down');
  };
  try {
    await a.recheck.paused(3_000);
  } finally {
    store.get = get;
  }
  assert.equal(await a.released('unverified'), 1);
  assert.equal(a.sessions.get(s.id), undefined);
});
