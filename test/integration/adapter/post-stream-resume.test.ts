// A 2025-era session call answered over SSE survives a dropped connection on
// its replica: its events carry ids, and a GET with Last-Event-ID within the
// grace gets the events after it and the rest of the call, answer included.
// Without one, the call is cancelled once the grace is over; a stream of
// another session, or one that is not here, is 404. The official SDK 1.x
// client, whose connection a loopback proxy cuts in the middle of such an
// answer, resumes it by itself and gets its result.
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { until } from '../../support/wait.js';

let adapter: AdapterHandle;
const GRACE_MS = 400;

before(async () => {
  adapter = await startFixtureAdapter({ replay: { resumeGraceMs: GRACE_MS, retryMs: 100 } });
});
after(async () => {
  await adapter?.shutdown();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function session(): Promise<string> {
  const res = await fetch(adapter.url, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  await res.text();
  const sid = res.headers.get('mcp-session-id')!;
  await fetch(adapter.url, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  return sid;
}

interface Sse {
  readonly events: Array<{ id?: string; data: string }>;
  retry?: number;
  ended: boolean;
  readonly status: number;
  abort(): void;
}

async function read(res: Response, ac: AbortController): Promise<Sse> {
  const got: Sse = { events: [], ended: false, status: res.status, abort: () => ac.abort() };
  void (async () => {
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += Buffer.from(chunk).toString('utf8');
        let i = buf.indexOf('\n\n');
        while (i >= 0) {
          const fields = Object.fromEntries(
            buf
              .slice(0, i)
              .split('\n')
              .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
          );
          buf = buf.slice(i + 2);
          if (fields['retry'] !== undefined) got.retry = Number(fields['retry']);
          if (fields['data'] !== undefined) got.events.push({ id: fields['id'], data: fields['data'] });
          i = buf.indexOf('\n\n');
        }
      }
      got.ended = true;
    } catch {
      // aborted
    }
  })();
  return got;
}

async function progressCall(sid: string, steps: number): Promise<Sse> {
  const ac = new AbortController();
  const res = await fetch(adapter.url, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: 'progress', arguments: { steps }, _meta: { progressToken: 't' } },
    }),
    signal: ac.signal,
  });
  return read(res, ac);
}

async function resume(sid: string, lastEventId: string): Promise<Sse> {
  const ac = new AbortController();
  const res = await fetch(adapter.url, {
    headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': lastEventId },
    signal: ac.signal,
  });
  return read(res, ac);
}

const progressOf = (e: { data: string }) => (JSON.parse(e.data) as { params?: { progress?: number } }).params?.progress;

test('a dropped SSE answer is resumed with Last-Event-ID: the events after it, then the answer', async () => {
  const sid = await session();
  const first = await progressCall(sid, 40);
  await until(async () => first.events.length >= 2, 'two progress events', 5_000, 5);
  assert.equal(first.retry, 100);
  const cursor = first.events[1]!;
  assert.match(cursor.id ?? '', /^r-\d{14}-[0-9a-z]{7}-[0-9a-f]{8}-2$/);
  first.abort();
  const after = await resume(sid, cursor.id!);
  assert.equal(after.status, 200);
  await until(async () => after.ended, 'the resumed stream ends with the answer', 10_000, 10);
  const last = after.events.at(-1)!;
  assert.match(last.data, /done 40/);
  const steps = after.events.slice(0, -1).map(progressOf);
  // Nothing at or before the cursor again, nothing missing after it.
  assert.ok(
    steps.every((p) => (p ?? 0) > progressOf(cursor)!),
    JSON.stringify(steps),
  );
  const seen = new Set([...first.events.slice(0, 2).map(progressOf), ...steps]);
  for (let i = 1; i <= 40; i++) assert.ok(seen.has(i), `progress ${i}`);
});

test('a dropped SSE answer nobody resumes is cancelled after the grace; another session cannot take it; an unknown stream is 404', async () => {
  const sid = await session();
  const other = await session();
  const call = await progressCall(sid, 100);
  await until(async () => call.events.length >= 1, 'a progress event', 5_000, 5);
  const id = call.events[0]!.id!;
  call.abort();
  const stolen = await resume(other, id);
  assert.equal(stolen.status, 404);
  const unknown = await resume(sid, 'r-00000000000001-0000001-00000000-1');
  assert.equal(unknown.status, 404);
  await new Promise((r) => setTimeout(r, GRACE_MS + 200));
  const late = await resume(sid, id);
  assert.equal(late.status, 404, 'cancelled after the grace: nothing to resume');
  const metrics = await (await fetch(adapter.url.replace(/\/mcp$/, '/metrics'))).text();
  assert.match(metrics, /mcpmesh_adapter_calls_total\{[^}]*tool="progress"[^}]*outcome="cancelled"[^}]*\} 1/);
});

/** A loopback proxy that cuts, once, the connection whose response has sent two resumable events. */
async function cuttingProxy(target: URL): Promise<{ url: string; cut: () => boolean; close: () => Promise<void> }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.add(down).add(up);
    let seen = '';
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.pipe(up);
    up.on('data', (chunk: Buffer) => {
      if (!cut) {
        const before = seen.length;
        seen += chunk.toString('utf8');
        const second = [...seen.matchAll(/id: r-[^\n]*\n[\s\S]*?\n\n/g)][1];
        if (second !== undefined) {
          // Everything up to the end of the second event, then the connection goes.
          cut = true;
          const upTo = second.index + second[0].length - before;
          down.write(chunk.subarray(0, Buffer.byteLength(seen.slice(before, before + upTo))), () => end());
          return;
        }
      }
      down.write(chunk);
    });
    up.on('error', end).on('close', end);
    down.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    cut: () => cut,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('the SDK 1.x client, its connection cut in the middle of a streamed answer, resumes it and gets the result', async () => {
  const proxy = await cuttingProxy(new URL(adapter.url));
  const client = new Client({ name: 'resume-test', version: '1' }, { capabilities: {} });
  const errors: string[] = [];
  client.onerror = (err) => void errors.push(err.message);
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(proxy.url)));
    const progress: number[] = [];
    const result = (await client.callTool({ name: 'progress', arguments: { steps: 60 } }, undefined, {
      onprogress: (p) => void progress.push(p.progress),
      timeout: 20_000,
    })) as { content: Array<{ text: string }> };
    assert.ok(proxy.cut(), 'the proxy cut the answer');
    assert.ok(
      errors.some((e) => /disconnected|terminated/.test(e)),
      errors.join('; '),
    );
    assert.equal(result.content[0]?.text, 'done 60');
    // Every step once: resumed after the last event the client saw.
    assert.deepEqual(
      [...progress].sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
  } finally {
    await client.close();
    await proxy.close();
  }
});
