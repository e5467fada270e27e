// What the GET stream's replay window costs (adapter/http/event-replay.ts):
// per message sent on the stream (the id, the request check, the store append
// with its trim), the read of a whole window when a client resumes, and the
// poll an open stream makes every --replay-poll of a shared window with
// nothing new (the idle cost of the GET-first split's cure). Baseline: the
// SSE formatting of one message, all a message cost before.
// Wall-clock per operation, awaited one at a time; p50 and p99 of RUNS after
// a warmup; a 200-byte notification; windows at their default bound (128).
//   npx tsc -p tsconfig.json && node dist/bench/adapter/event-window.js
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sseEvent } from '../../adapter/http/sse-stream.js';
import { DirectoryEventWindowStore } from '../../adapter/sessions/event-window-dir-store.js';
import { EventIds, type EventWindowStore, MemoryEventWindowStore } from '../../adapter/sessions/event-window-store.js';

const RUNS = 2_000;
const WARMUP = 200;
const TEXT = JSON.stringify({
  jsonrpc: '2.0',
  method: 'notifications/resources/updated',
  params: { uri: `file:///srv/notes/${'n'.repeat(120)}.md` },
});

async function measure(name: string, f: () => unknown | Promise<unknown>): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await f();
  const t = new Float64Array(RUNS);
  for (let i = 0; i < RUNS; i++) {
    const s = process.hrtime.bigint();
    await f();
    t[i] = Number(process.hrtime.bigint() - s);
  }
  t.sort();
  const at = (q: number) => (t[Math.min(RUNS - 1, Math.floor(RUNS * q))]! / 1_000).toFixed(1);
  console.log(`| ${name} | ${at(0.5)} | ${at(0.99)} |`);
}

const ids = new EventIds();
const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-bench-events-'));
const stores: Array<[string, EventWindowStore]> = [
  ['memory', new MemoryEventWindowStore()],
  ['directory', new DirectoryEventWindowStore({ dir })],
];
console.log(`${TEXT.length}-byte message, windows of 128, ${RUNS} runs each (µs)\n`);
console.log('| operation | p50 µs | p99 µs |\n| --- | ---: | ---: |');
await measure('baseline: format one SSE message (before: all a GET-stream message cost)', () => sseEvent(TEXT));
await measure('format one SSE message with its id (the id made too)', () => sseEvent(TEXT, ids.next()));
for (const [kind, store] of stores) {
  const key = randomBytes(16).toString('base64url');
  await measure(`${kind}: keep one message (append + trim of a full window)`, () => store.append(key, { id: ids.next(), data: TEXT }));
  await measure(`${kind}: read the window for a resume (128 messages)`, () => store.list(key));
  const all = new Set((await store.list(key)).map((e) => e.id));
  await measure(`${kind}: an open stream's poll with nothing new`, () => store.list(key, (id) => all.has(id)));
  await store.close();
}
rmSync(dir, { recursive: true, force: true });
