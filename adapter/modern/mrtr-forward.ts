// A multi round-trip retry that reached a replica other than the one holding
// its call, sent on to the holder directly (its own endpoint, not through
// Envoy), and the holder's answer streamed back as it comes. One hop only: a
// request that was forwarded once is never forwarded again.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

/** Marks a forwarded retry; its value is the forwarding replica's id (logs only). */
export const FORWARDED_HEADER = 'x-mcpmesh-mrtr-forwarded';

const PASSED_REQUEST_HEADERS = ['content-type', 'accept', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'traceparent', 'tracestate'];
const PASSED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'x-accel-buffering', 'content-length'];

export interface ForwardOptions {
  readonly url: string;
  readonly bodyText: string;
  readonly fromReplica: string;
  /** Keeps connections to the other replicas open between retries (the bridge owns it). */
  readonly agent: http.Agent;
  /** No connection to the holder within this long: unreachable (the answer itself may take as long as the tool). */
  readonly connectTimeoutMs: number;
  /** The holder could not be reached (refused, reset, timed out) before it answered. */
  readonly unreachable: (detail: string) => void;
}

export function forwardRetry(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): void {
  const target = new URL(o.url);
  if (target.protocol !== 'http:') {
    o.unreachable(`forwarding to ${target.protocol} replicas is not supported`);
    return;
  }
  const headers: Record<string, string> = { [FORWARDED_HEADER]: o.fromReplica, 'content-length': String(Buffer.byteLength(o.bodyText)) };
  for (const name of PASSED_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  let current: http.ClientRequest | undefined;
  const attempt = (mayRetry: boolean): void => {
    let answered = false;
    const upstream = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent: o.agent },
      (up) => {
        answered = true;
        const out: Record<string, string> = {};
        for (const name of PASSED_RESPONSE_HEADERS) {
          const v = up.headers[name];
          if (typeof v === 'string') out[name] = v;
        }
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    current = upstream;
    const timer = setTimeout(() => upstream.destroy(new Error(`no connection within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
    upstream.once('socket', (socket) => {
      // A kept-alive socket is connected already.
      if (!socket.connecting) clearTimeout(timer);
      else socket.once('connect', () => clearTimeout(timer));
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      if (answered || res.headersSent || res.destroyed) return void res.destroy();
      // A kept-alive connection the holder closed as it was reused: once more on a new one.
      if (mayRetry && upstream.reusedSocket) return attempt(false);
      o.unreachable(err.message);
    });
    upstream.end(o.bodyText);
  };
  // The client left: the holder sees its exchange close, and cancels the call.
  res.once('close', () => {
    if (!res.writableFinished) current?.destroy();
  });
  attempt(true);
}
