// The per-connection bound on requests being answered (HTTP/1.1 pipelining,
// --max-inflight-per-connection): beyond it a request is refused 503,
// retryable, before it reaches a process; each answer that ends gives its
// place back, refused ones included, so the connection serves on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { AdapterHandle } from '../../../adapter/adapter.js';
import { RETRYABLE_HEADER } from '../../../lib/mesh-contracts.js';
import { startFixtureAdapter } from '../../support/adapter-fixture.js';
import { MODERN_META, modernHeaders } from '../../support/modern-call.js';

const PER_CONNECTION = 2;
let adapter: AdapterHandle;

before(async () => {
  adapter = await startFixtureAdapter({ maxInFlightPerConnection: PER_CONNECTION });
});
after(async () => {
  await adapter?.shutdown();
});

interface Answer {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** One keep-alive connection: `send` writes requests back to back (pipelined); `answers(n)` reads n answers in order. */
function connection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let buf = '';
  const waiting: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    buf += c.toString('latin1');
    for (const w of waiting.splice(0)) w();
  });
  const next = async (): Promise<Answer> => {
    for (;;) {
      const he = buf.indexOf('\r\n\r\n');
      if (he >= 0) {
        const lines = buf.slice(0, he).split('\r\n');
        const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const len = Number(headers.get('content-length') ?? 0);
        if (buf.length >= he + 4 + len) {
          const body = buf.slice(he + 4, he + 4 + len);
          buf = buf.slice(he + 4 + len);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  let id = 1;
  return {
    send(count: number, ms: number): void {
      let text = '';
      for (let i = 0; i < count; i++) {
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: id++,
          method: 'tools/call',
          params: { name: 'slow', arguments: { ms }, _meta: MODERN_META },
        });
        const headers = {
          ...modernHeaders('tools/call', 'slow'),
          'content-length': String(Buffer.byteLength(body)),
          host: `127.0.0.1:${port}`,
        };
        text += `POST /mcp HTTP/1.1\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n${body}`;
      }
      socket.write(text);
    },
    async answers(n: number): Promise<Answer[]> {
      const out: Answer[] = [];
      for (let i = 0; i < n; i++) out.push(await next());
      return out;
    },
    close: () => socket.destroy(),
  };
}

test('pipelined requests beyond the connection bound are refused retryable, and every ended answer gives its place back', async () => {
  const conn = connection(adapter.port);
  try {
    for (let round = 0; round < 3; round++) {
      conn.send(PER_CONNECTION + 1, 300);
      const answers = await conn.answers(PER_CONNECTION + 1);
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(
        statuses,
        [200, 200, 503],
        `round ${round}: ${answers.map((a) => `${a.status} ${a.body.slice(0, 120)}`).join(' | ')}`,
      );
      const refused = answers.find((a) => a.status === 503)!;
      assert.equal(refused.headers.get(RETRYABLE_HEADER), 'true');
      assert.match(refused.body, /calls are in flight on this connection/);
    }
    // Within the bound, one after the other: all answered.
    for (let i = 0; i < 4; i++) {
      conn.send(1, 0);
      assert.equal((await conn.answers(1))[0]!.status, 200);
    }
  } finally {
    conn.close();
  }
});
