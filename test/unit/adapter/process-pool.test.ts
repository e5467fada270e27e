// The pool's placement, queueing and restart rules, with fake processes
// (the pool's own PoolWorker interface) so that each rule is checked exactly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { createAdapterMetrics } from '../../../adapter/metrics.js';
import { Call, type CallSink, type Placement } from '../../../adapter/pool/call.js';
import type { PoolWorker, WorkerHost, WorkerState } from '../../../adapter/pool/pool-worker.js';
import { type PoolOptions, ProcessPool } from '../../../adapter/pool/process-pool.js';
import type { FailureAnswer } from '../../../adapter/protocol/failure-classes.js';
import { requestBodyOf } from '../../../adapter/protocol/request-body.js';
import { Session } from '../../../adapter/sessions/session.js';

class FakeWorker implements PoolWorker {
  state: WorkerState = 'starting';
  identity = { capabilities: {}, serverInfo: { name: 'fake', version: '1' }, instructions: undefined };
  protocolVersion = '2025-11-25';
  readyAt = 0;
  lastBusyAt = Date.now();
  readonly calls = new Map<number, Call>();
  private next = 1;
  constructor(
    readonly slot: number,
    readonly host: WorkerHost<FakeWorker>,
    readonly pid: number,
  ) {}
  ready(): void {
    this.state = 'ready';
    this.readyAt = Date.now();
    this.host.workerReady(this);
  }
  die(): void {
    this.state = 'dead';
    for (const c of [...this.calls.values()]) c.fail({ kind: 'crashed', detail: 'fake death', written: true });
    this.host.workerDead(this, 'crash', 'fake death');
  }
  dispatch(call: Call): void {
    const id = this.next++;
    call.writeTo(this, id);
    this.calls.set(id, call);
  }
  release(call: Call): boolean {
    return this.calls.get(call.localId) === call && this.calls.delete(call.localId);
  }
  cancel(): void {}
  async stop(): Promise<void> {
    this.state = 'dead';
    this.host.workerDead(this, 'stopped', 'stopped');
  }
  /** Answers a call in flight here. */
  answer(call: Call): void {
    call.respond(`{"result":{},"jsonrpc":"2.0","id":${call.localId}}`, {
      kind: 'response',
      id: call.localId,
      result: {},
      error: undefined,
    });
  }
}

class RecordingSink implements CallSink {
  readonly canStream = false;
  readonly closed = false;
  answered: string | undefined;
  failure: FailureAnswer | undefined;
  event(): boolean {
    return false;
  }
  finish(text: string): void {
    this.answered = text;
  }
  fail(answer: FailureAnswer): void {
    this.failure = answer;
  }
  abandon(): void {}
}

const OPTS: PoolOptions = {
  min: 1,
  max: 1,
  maxInFlightPerProcess: 100,
  maxQueue: 10,
  queueTimeoutMs: 5_000,
  idleStopMs: 60_000,
  stopGraceMs: 10,
  backoff: { baseMs: 20, maxMs: 1_000, jitter: 0 },
  stableAfterMs: 60_000,
};

type Pinned = (slot: number) => { all: number; answering: number };

function setup(opts: Partial<PoolOptions> = {}, pinned: Pinned = () => ({ all: 0, answering: 0 })) {
  const workers: FakeWorker[] = [];
  const created: number[] = [];
  let pid = 100;
  const pool: ProcessPool<FakeWorker, Session> = new ProcessPool<FakeWorker, Session>(
    { ...OPTS, ...opts },
    {
      logger: pino({ level: 'silent' }),
      metrics: createAdapterMetrics('t'),
      createWorker: (slot, host) => {
        created.push(performance.now());
        const w = new FakeWorker(slot, host, pid++);
        workers.push(w);
        return w;
      },
      serverRequest: () => undefined,
      serverNotification: () => undefined,
      workerReady: () => undefined,
      workerGone: () => undefined,
      pinned,
    },
  );
  const call = (placement: Placement = 'any', session?: Session) => {
    const sink = new RecordingSink();
    const c = new Call(
      {
        clientId: 1,
        clientIdJson: '1',
        method: 'tools/call',
        tool: 'x',
        params: {},
        body: requestBodyOf('{"jsonrpc":"2.0","id":1,"method":"tools/call"}'),
        era: 'legacy',
        session,
        placement,
        logLevel: undefined,
        sink,
      },
      { settled: (done) => pool.release(done), replaySafe: () => true },
      undefined,
    );
    pool.submit(c);
    return { call: c, sink };
  };
  return { pool, workers, created, call };
}

describe('process pool', () => {
  test('a solo call waits for an idle process, runs alone there, and other calls keep off it while it runs', () => {
    const { pool, workers, call } = setup({ min: 2, max: 2 });
    pool.start();
    for (const w of workers) w.ready();
    const busy = call();
    const solo = call('solo');
    assert.notEqual(solo.call.worker, busy.call.worker, 'an idle process');
    const soloWorker = solo.call.worker as FakeWorker;
    assert.equal(pool.soloCallOf(soloWorker), solo.call);
    for (let i = 0; i < 5; i++) call();
    assert.equal(soloWorker.calls.size, 1, 'nothing else on the solo call’s process while another can take it');
    const waiting = call('solo');
    assert.equal(waiting.call.worker, undefined, 'no idle process: a second solo call waits');
    assert.equal(pool.queueDepth, 1);
    soloWorker.answer(solo.call);
    assert.equal(pool.soloCallOf(soloWorker), waiting.call, 'let in once the process is idle');
    assert.equal(waiting.call.worker, soloWorker);
  });

  test('a dead process takes its solo call with it, and solo calls waiting with no process running are answered at once', () => {
    const { pool, workers, call } = setup();
    pool.start();
    workers[0]!.ready();
    const solo = call('solo');
    const waiting = call('solo');
    assert.equal(pool.queueDepth, 1);
    workers[0]!.die();
    assert.equal(solo.sink.failure?.status, 503);
    assert.deepEqual([waiting.sink.failure?.status, waiting.sink.failure?.retryable], [503, true]);
    assert.equal(pool.soloCallOf(workers[0]!), undefined);
    void pool.stop();
  });

  test('sends each call to the least-busy ready process', () => {
    const { pool, workers, call } = setup({ min: 3, max: 3 });
    pool.start();
    for (const w of workers) w.ready();
    for (let i = 0; i < 9; i++) call();
    assert.deepEqual(
      workers.map((w) => w.calls.size),
      [3, 3, 3],
    );
    const busiest = workers[0]!;
    busiest.answer([...busiest.calls.values()][0]!);
    busiest.answer([...busiest.calls.values()][0]!);
    call();
    assert.equal(busiest.calls.size, 2, 'the next call goes to the process that has the fewest calls');
  });

  test('queues when every process is at its limit and answers overload (503, retryable) when the queue is full', () => {
    const { pool, workers, call } = setup({ maxInFlightPerProcess: 1, maxQueue: 1 });
    pool.start();
    workers[0]!.ready();
    const first = call();
    const queued = call();
    const refused = call();
    assert.equal(workers[0]!.calls.size, 1);
    assert.equal(pool.queueDepth, 1);
    assert.deepEqual([refused.sink.failure?.status, refused.sink.failure?.retryable], [503, true]);
    assert.match(refused.sink.failure!.message, /queue of 1 calls is full/);
    workers[0]!.answer(first.call);
    assert.ok(first.sink.answered);
    assert.equal(pool.queueDepth, 0);
    assert.equal(queued.call.worker, workers[0]);
  });

  test('a call that waits past the queue timeout is answered retryable without reaching a process', async () => {
    const { pool, workers, call } = setup({ maxInFlightPerProcess: 1, queueTimeoutMs: 30 });
    pool.start();
    workers[0]!.ready();
    call();
    const waiting = call();
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual([waiting.sink.failure?.status, waiting.sink.failure?.retryable], [503, true]);
    assert.equal(waiting.call.written, false);
    assert.equal(pool.queueDepth, 0);
  });

  test('with no process running at all, calls are refused at once (retryable)', () => {
    const { pool, workers, call } = setup();
    pool.start();
    workers[0]!.ready();
    workers[0]!.die();
    const c = call();
    assert.deepEqual([c.sink.failure?.status, c.sink.failure?.retryable], [503, true]);
    assert.match(c.sink.failure!.message, /no server process is running/);
    void pool.stop();
  });

  test('a dead process fails its calls and restarts after exponential backoff', async () => {
    const { pool, workers, created, call } = setup();
    pool.start();
    workers[0]!.ready();
    const inFlight = call();
    workers[0]!.die();
    assert.equal(inFlight.sink.failure?.status, 503);
    assert.equal(pool.states().backoff, 1);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(workers.length, 2, 'restarted after the first delay (20 ms)');
    workers[1]!.die();
    await new Promise((r) => setTimeout(r, 25));
    assert.equal(workers.length, 2, 'the second delay is longer (40 ms)');
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(workers.length, 3);
    assert.ok(created[2]! - created[1]! >= 38, `second backoff ${created[2]! - created[1]!} ms`);
    await pool.stop();
  });

  test('an exclusive call waits while another answering session owns the process', () => {
    const { pool, workers, call } = setup();
    pool.start();
    workers[0]!.ready();
    const a = new Session('a', 0, '2025-11-25', { sampling: false, elicitation: true, roots: false });
    const b = new Session('b', 0, '2025-11-25', { sampling: false, elicitation: true, roots: false });
    const first = call('exclusive', a);
    const sameSession = call('exclusive', a);
    const other = call('exclusive', b);
    const anyCall = call('any');
    assert.equal(pool.holderOf(workers[0]!), a);
    assert.equal(workers[0]!.calls.size, 3, 'the owner and unpinned calls run; the other session waits');
    assert.equal(other.call.worker, undefined);
    workers[0]!.answer(first.call);
    workers[0]!.answer(sameSession.call);
    assert.equal(pool.holderOf(workers[0]!), b);
    assert.equal(other.call.worker, workers[0]);
    workers[0]!.answer(anyCall.call);
  });

  test('grows up to max when every process is busy', () => {
    const { pool, workers, call } = setup({ min: 1, max: 2, maxInFlightPerProcess: 1 });
    pool.start();
    workers[0]!.ready();
    call();
    const second = call();
    assert.equal(workers.length, 2, 'a second process is started');
    workers[1]!.ready();
    assert.equal(second.call.worker, workers[1]);
    void pool.stop();
  });

  test('a new session goes to the slot with the fewest sessions', () => {
    const counts = [
      { all: 2, answering: 0 },
      { all: 1, answering: 0 },
    ];
    const { pool, workers } = setup({ min: 2, max: 2 }, (slot) => counts[slot]!);
    pool.start();
    for (const w of workers) w.ready();
    assert.equal(pool.slotForSession(false), 1);
    void pool.stop();
  });

  test('a session that answers server requests gets a slot of its own while the pool may grow', () => {
    const counts = [{ all: 1, answering: 1 }];
    const { pool, workers } = setup({ min: 1, max: 2 }, (slot) => counts[slot] ?? { all: 0, answering: 0 });
    pool.start();
    workers[0]!.ready();
    assert.equal(pool.slotForSession(true), 1, 'a second slot starts for it');
    assert.equal(workers.length, 2);
    assert.equal(pool.slotForSession(false), 1, 'the new slot has no session yet');
    void pool.stop();
  });

  test('with no process running, a session has no slot', () => {
    const { pool, workers } = setup();
    pool.start();
    workers[0]!.ready();
    workers[0]!.die();
    assert.equal(pool.slotForSession(false), undefined);
    void pool.stop();
  });

  test('the hold of a process that died ends with it', () => {
    const { pool, workers, call } = setup();
    pool.start();
    workers[0]!.ready();
    const a = new Session('a', 0, '2025-11-25', { sampling: false, elicitation: true, roots: false });
    call('exclusive', a);
    assert.equal(pool.holderOf(workers[0]!), a);
    workers[0]!.die();
    assert.equal(pool.holderOf(workers[0]!), undefined);
    void pool.stop();
  });
});
