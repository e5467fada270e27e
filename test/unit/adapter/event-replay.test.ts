import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readResumeCursor, SessionEvents } from '../../../adapter/http/event-replay.js';
import { SseStream } from '../../../adapter/http/sse-stream.js';
import { DirectoryEventWindowStore } from '../../../adapter/sessions/event-window-dir-store.js';
import { EventIds, type EventWindowStore } from '../../../adapter/sessions/event-window-store.js';
import { createLogger } from '../../../lib/log.js';
import { until } from '../../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-replay-'));
const logger = createLogger('test');
const sessionKey = randomBytes(16).toString('base64url');
const stores: EventWindowStore[] = [];
/** Two replicas of one session sharing a directory window. */
const [a, b] = [0, 1].map(() => {
  const store = new DirectoryEventWindowStore({ dir });
  stores.push(store);
  return new SessionEvents(sessionKey, true, { retryMs: 500, pollMs: 20 }, { store, ids: new EventIds(), logger });
}) as [SessionEvents, SessionEvents];

let server: Server;
let base = '';
before(async () => {
  // GET /a or /b opens that replica's stream, with the request's Last-Event-ID.
  server = createServer((req, res) => {
    const events = req.url === '/a' ? a : b;
    const header = req.headers['last-event-id'];
    void events.attach(new SseStream(res, {}, 60_000), readResumeCursor(Array.isArray(header) ? header[0] : header));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  for (const s of stores) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Received {
  readonly events: Array<{ id?: string; data: string }>;
  retry?: number;
  close(): void;
}

async function open(replica: 'a' | 'b', lastEventId?: string): Promise<Received> {
  const ac = new AbortController();
  const res = await fetch(`${base}/${replica}`, { headers: lastEventId ? { 'last-event-id': lastEventId } : {}, signal: ac.signal });
  const got: Received = { events: [], close: () => ac.abort() };
  void (async () => {
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += Buffer.from(chunk).toString('utf8');
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          if (fields['retry'] !== undefined) got.retry = Number(fields['retry']);
          if (fields['id'] !== undefined || fields['data']) got.events.push({ id: fields['id'], data: fields['data'] ?? '' });
          i = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
  })();
  return got;
}

const note = (n: number) => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { n } });

describe('a GET stream that outlives its connection', () => {
  test('a new stream gets retry: and a cursor, and nothing older', async () => {
    a.send(note(0));
    await new Promise((r) => setTimeout(r, 50));
    const s = await open('a');
    await until(async () => s.events.length >= 1, 'the priming event', 2_000, 10);
    assert.equal(s.retry, 500);
    assert.equal(s.events[0]!.data, '');
    assert.ok(s.events[0]!.id?.startsWith('g-'));
    a.send(note(1));
    await until(async () => s.events.some((e) => e.data === note(1)), 'a live message', 2_000, 10);
    assert.equal(
      s.events.some((e) => e.data === note(0)),
      false,
    );
    s.close();
  });

  test('messages sent while no stream is open are replayed after the cursor, on another replica', async () => {
    const first = await open('a');
    a.send(note(10));
    await until(async () => first.events.some((e) => e.data === note(10)), 'live on a', 2_000, 10);
    const cursor = first.events.at(-1)!.id!;
    first.close();
    await until(async () => a.closed, 'a closed', 2_000, 10);
    a.send(note(11));
    a.send(note(12));
    // A server request with no stream is not kept: it was refused to the server.
    a.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'roots/list' }));
    await new Promise((r) => setTimeout(r, 50));
    const resumed = await open('b', cursor);
    await until(async () => resumed.events.filter((e) => e.data.startsWith('{')).length >= 2, 'the replay', 2_000, 10);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      resumed.events.filter((e) => e.data.startsWith('{')).map((e) => e.data),
      [note(11), note(12)],
    );
    resumed.close();
  });

  test('a stream on one replica gets what the other replica writes for the session (the split)', async () => {
    const s = await open('b');
    await until(async () => s.events.length >= 1, 'the priming event', 2_000, 10);
    a.send(note(20));
    await until(async () => s.events.some((e) => e.data === note(20)), 'the other replica message', 2_000, 10);
    b.send(note(21));
    await until(async () => s.events.some((e) => e.data === note(21)), 'its own message', 2_000, 10);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.events.filter((e) => e.data === note(21)).length, 1, 'its own message once');
    s.close();
  });
});
