// The crash replayer with fake processes (its own QuarantineWorker interface):
// the suspects of one death run one at a time, each alone on a quarantine
// process; the one that kills it is found, the others are answered; a client
// that left, the bound, a quarantine process that will not start and shutdown
// each give the calls their ordinary answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Call, type CallSink } from '../../../adapter/pool/call.js';
import { CrashReplay, type QuarantineWorker, type ReplayResult } from '../../../adapter/pool/crash-replay.js';
import type { WorkerHost, WorkerState } from '../../../adapter/pool/pool-worker.js';
import type { FailureAnswer } from '../../../adapter/protocol/failure-classes.js';
import { requestBodyOf } from '../../../adapter/protocol/request-body.js';

class FakeWorker implements QuarantineWorker {
  state: WorkerState = 'starting';
  identity = undefined;
  protocolVersion = '2025-11-25';
  readyAt = 0;
  lastBusyAt = 0;
  readonly pid = 1;
  readonly calls = new Map<number, Call>();
  /** Most calls in flight here at once. */
  peak = 0;
  private next = 1;
  constructor(
    readonly slot: number,
    readonly host: WorkerHost<FakeWorker>,
  ) {}
  ready(): void {
    this.state = 'ready';
    this.host.workerReady(this);
  }
  /** Dies on its own: a call alone on it is judged the query of death, as McpWorker does. */
  die(): void {
    this.state = 'dead';
    for (const c of [...this.calls.values()]) c.fail({ kind: 'poisoned', detail: 'alone on a process that died', written: true });
    this.calls.clear();
    this.host.workerDead(this, 'crash', 'died');
  }
  dispatch(call: Call): void {
    const id = this.next++;
    call.writeTo(this, id);
    this.calls.set(id, call);
    this.peak = Math.max(this.peak, this.calls.size);
  }
  release(call: Call): boolean {
    return this.calls.get(call.localId) === call && this.calls.delete(call.localId);
  }
  cancel(): void {}
  send(): boolean {
    return true;
  }
  async stop(): Promise<void> {
    this.state = 'dead';
    this.host.workerDead(this, 'stopped', 'stopped');
  }
  answer(call: Call): void {
    call.respond(`{"jsonrpc":"2.0","id":${call.localId},"result":{}}`, {
      kind: 'response',
      id: call.localId,
      result: {},
      error: undefined,
    });
  }
}

class Sink implements CallSink {
  readonly canStream = false;
  closed = false;
  answered: string | undefined;
  failure: FailureAnswer | undefined;
  abandoned = false;
  event(): boolean {
    return false;
  }
  finish(text: string): void {
    this.answered = text;
  }
  fail(answer: FailureAnswer): void {
    this.failure = answer;
  }
  abandon(): void {
    this.abandoned = true;
  }
}

function setup(opts: { maxSuspects?: number } = {}) {
  const quarantine: FakeWorker[] = [];
  const results: ReplayResult[] = [];
  const replay = new CrashReplay<FakeWorker>({
    createWorker: (slot, host) => {
      const w = new FakeWorker(slot, host);
      quarantine.push(w);
      return w;
    },
    logger: pino({ level: 'silent' }),
    replayed: (r) => results.push(r),
    ...opts,
  });
  // The process that died, with the suspects still listed on it.
  const from = new FakeWorker(0, replay);
  from.state = 'dead';
  const suspects = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const sink = new Sink();
      const call = new Call(
        {
          clientId: i,
          clientIdJson: String(i),
          method: 'tools/call',
          tool: 'x',
          params: {},
          body: requestBodyOf(`{"jsonrpc":"2.0","id":${i},"method":"tools/call","params":{}}`),
          era: 'legacy',
          session: undefined,
          placement: 'any',
          logLevel: undefined,
          sink,
        },
        // As the pool does: a settled call leaves the process it was on.
        { settled: (c) => void c.worker?.release(c), replaySafe: () => true },
        undefined,
      );
      from.dispatch(call);
      return { call, sink };
    });
  const crashed = (c: Call) => c.fail({ kind: 'crashed', detail: 'the process exited', written: true });
  return { replay, quarantine, results, from, suspects, crashed };
}

test('one at a time, each alone on a quarantine process: the killer is found, the others are answered', () => {
  const { replay, quarantine, results, from, suspects, crashed } = setup();
  const s = suspects(3);
  assert.deepEqual(
    replay.take(
      from,
      s.map((x) => x.call),
      crashed,
    ),
    [],
  );
  assert.equal(quarantine.length, 1, 'one quarantine process');
  const q1 = quarantine[0]!;
  q1.ready();
  assert.equal(q1.calls.size, 1);
  q1.answer([...q1.calls.values()][0]!);
  assert.match(s[0]!.sink.answered!, /"id":0/, 'answered with its own id');
  // The second one kills it: alone there, it is the query of death.
  assert.equal(q1.calls.size, 1);
  q1.die();
  assert.equal(s[1]!.sink.failure?.status, 422);
  // The third goes on on a new quarantine process.
  assert.equal(quarantine.length, 2);
  const q2 = quarantine[1]!;
  q2.ready();
  q2.answer([...q2.calls.values()][0]!);
  assert.match(s[2]!.sink.answered!, /"id":2/);
  assert.deepEqual(results, ['answered', 'poisoned', 'answered']);
  assert.deepEqual(
    quarantine.map((q) => q.peak),
    [1, 1],
    'never two calls on a quarantine process',
  );
  assert.equal(q2.state, 'dead', 'stopped once the batch is done');
  assert.equal(from.calls.size, 0, 'each left the dead process when it was written again');
  assert.equal(replay.pending, 0);
});

test('a client that left while its call waited: cancelled, not replayed', () => {
  const { replay, quarantine, results, from, suspects, crashed } = setup();
  const s = suspects(2);
  replay.take(
    from,
    s.map((x) => x.call),
    crashed,
  );
  s[1]!.sink.closed = true;
  quarantine[0]!.ready();
  quarantine[0]!.answer([...quarantine[0]!.calls.values()][0]!);
  assert.equal(s[1]!.sink.abandoned, true);
  assert.deepEqual(results, ['answered', 'abandoned']);
});

test('over the bound, or a quarantine process that will not start: the ordinary crash answer', () => {
  const { replay, quarantine, results, from, suspects, crashed } = setup({ maxSuspects: 2 });
  const s = suspects(3);
  const notTaken = replay.take(
    from,
    s.map((x) => x.call),
    crashed,
  );
  assert.deepEqual(notTaken, [s[2]!.call]);
  // Three starts, each dying before it is ready.
  for (let i = 0; i < 3; i++) quarantine[i]!.die();
  assert.equal(quarantine.length, 3);
  for (const x of s.slice(0, 2)) assert.deepEqual([x.sink.failure?.status, x.sink.failure?.retryable], [503, true]);
  assert.deepEqual(results, ['not_replayed', 'not_replayed']);
});

test('shutdown: what waits gets its ordinary answer', async () => {
  const { replay, from, suspects, crashed } = setup();
  const s = suspects(2);
  replay.take(
    from,
    s.map((x) => x.call),
    crashed,
  );
  await replay.stop();
  for (const x of s) assert.equal(x.sink.failure?.status, 503);
  assert.deepEqual(
    replay.take(
      from,
      suspects(1).map((x) => x.call),
      crashed,
    ).length,
    1,
    'nothing is taken once stopped',
  );
});
