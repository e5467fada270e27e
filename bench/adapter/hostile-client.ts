// The hostile-input bench's client, in a process of its own so that the
// bench's CPU reading (process.cpuUsage() of the process the adapter runs in)
// holds the adapter's work and not the client's: writing the body, reading
// the answer. Forked with IPC by hostile-input.ts. A body arrives first and
// is held; each `go` posts it once and answers with the status and the bytes
// received, so the measured window holds no message bigger than a few bytes.
import http from 'node:http';

interface Load {
  readonly type: 'load';
  readonly port: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer | Uint8Array;
}
interface Go {
  readonly type: 'go';
}

let loaded: Load | undefined;

function post(l: Load): Promise<{ status: number; bytes: number }> {
  const body = Buffer.from(l.body.buffer, l.body.byteOffset, l.body.byteLength);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: l.port, path: '/mcp', method: 'POST', headers: { ...l.headers, 'content-length': body.length } },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

process.on('message', (m: Load | Go) => {
  if (m.type === 'load') {
    loaded = m;
    process.send?.({ type: 'loaded' });
    return;
  }
  if (loaded === undefined) throw new Error('go before load');
  post(loaded).then(
    (r) => process.send?.({ type: 'done', ...r }),
    (err: Error) => process.send?.({ type: 'failed', message: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
