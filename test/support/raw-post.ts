// One POST with a raw body over node:http, read whole: for the tests that need
// what fetch does not give them (their own source address, exact bytes, an
// agent of their own, or no connection reuse between calls).
import http from 'node:http';

export interface RawPostOptions {
  /** Request headers; content-length is set from the body. */
  readonly headers: Record<string, string>;
  /** The source address (a loopback address of the test's own). */
  readonly localAddress?: string;
  /** Default: a connection of its own (no agent). */
  readonly agent?: http.Agent;
  /** The request is destroyed with an error after this long without an answer (default: no bound of its own). */
  readonly timeoutMs?: number;
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** From the request's start to the answer's end. */
  readonly ms: number;
}

export function rawPost(url: string, body: string | Buffer, opts: RawPostOptions): Promise<RawAnswer> {
  const target = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        headers: { ...opts.headers, 'content-length': Buffer.byteLength(body) },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const { timeoutMs } = opts;
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1_000} s`)));
    req.end(body);
  });
}
