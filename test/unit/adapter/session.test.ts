// A 2025-era session's own state, changed only through its methods, and the
// table's views of the sessions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ClientStream, Session } from '../../../adapter/sessions/session.js';
import { SessionTable } from '../../../adapter/sessions/session-table.js';

class FakeStream implements ClientStream {
  closed = false;
  sent: string[] = [];
  private handlers: Array<() => void> = [];
  send(text: string): boolean {
    if (this.closed) return false;
    this.sent.push(text);
    return true;
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handlers.splice(0)) h();
  }
  onClose(handler: () => void): void {
    this.handlers.push(handler);
  }
}

const answering = { sampling: false, elicitation: true, roots: false };
const plain = { sampling: false, elicitation: false, roots: false };

describe('session', () => {
  test("the GET stream is the session's while open; closing it counts as the client being seen", async () => {
    const s = new Session('s1', 0, '2025-11-25', plain);
    assert.equal(s.streaming, false);
    const stream = new FakeStream();
    s.attachStream(stream);
    assert.equal(s.stream, stream);
    assert.equal(s.streaming, true);
    const before = s.lastSeen;
    await new Promise((r) => setTimeout(r, 5));
    stream.end();
    assert.equal(s.stream, undefined);
    assert.equal(s.streaming, false);
    assert.ok(s.lastSeen > before);
  });

  test('a stream that closes after a newer one was attached leaves the newer one', () => {
    const s = new Session('s2', 0, '2025-11-25', plain);
    const old = new FakeStream();
    const newer = new FakeStream();
    s.attachStream(old);
    s.attachStream(newer);
    old.end();
    assert.equal(s.stream, newer);
  });

  test('ending a session closes its stream', () => {
    const s = new Session('s3', 0, '2025-11-25', plain);
    const stream = new FakeStream();
    s.attachStream(stream);
    s.end();
    assert.equal(s.closed, true);
    assert.equal(stream.closed, true);
    assert.equal(s.stream, undefined);
  });

  test('subscriptions and logging level', () => {
    const s = new Session('s4', 0, '2025-11-25', plain);
    s.subscribe('file:///a');
    s.subscribe('file:///b');
    s.unsubscribe('file:///a');
    assert.deepEqual([...s.subscriptions], ['file:///b']);
    assert.equal(s.logLevel, undefined);
    s.setLogLevel('debug');
    assert.equal(s.logLevel, 'debug');
  });

  test('what the client answers', () => {
    const s = new Session('s5', 0, '2025-11-25', answering);
    assert.equal(s.answersServerRequests, true);
    assert.equal(s.accepts('elicitation/create'), true);
    assert.equal(s.accepts('sampling/createMessage'), false);
    assert.equal(s.accepts('ping'), false);
    assert.equal(new Session('s6', 0, '2025-11-25', plain).answersServerRequests, false);
  });
});

describe('session table', () => {
  test('counts the sessions pinned to a slot, and those that answer server requests', () => {
    const t = new SessionTable();
    t.add(new Session('s7', 0, '2025-11-25', plain));
    t.add(new Session('s8', 0, '2025-11-25', answering));
    t.add(new Session('s9', 1, '2025-11-25', answering));
    assert.deepEqual(t.countPinned(0), { all: 2, answering: 1 });
    assert.deepEqual(t.countPinned(2), { all: 0, answering: 0 });
    assert.equal([...t.pinnedTo(1)].length, 1);
    assert.equal(t.size, 3);
  });

  test('a session is idle without calls or stream, and get() counts as seen', async () => {
    const t = new SessionTable();
    const quiet = new Session('s10', 0, '2025-11-25', plain);
    const watching = new Session('s11', 0, '2025-11-25', plain);
    watching.attachStream(new FakeStream());
    t.add(quiet);
    t.add(watching);
    await new Promise((r) => setTimeout(r, 15));
    assert.deepEqual(t.idle(Date.now(), 10), [quiet]);
    assert.equal(t.get(quiet.id), quiet);
    assert.deepEqual(t.idle(Date.now(), 10), [], 'seen just now');
    t.delete(quiet);
    assert.equal(t.get(quiet.id), undefined);
  });
});
