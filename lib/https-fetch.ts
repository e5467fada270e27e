// fetch() over node:https with TLS options of our own (a CA bundle, a client
// certificate, the names the server's certificate must carry): Node's global
// fetch takes none of them without the undici package. Enough of fetch for
// the MCP SDK's Streamable HTTP client: method, headers, a string or bytes
// body, an abort signal, and a streamed response body.
import https from 'node:https';
import { Readable } from 'node:stream';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

export interface HttpsFetchOptions {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** SNI; Node sends none for an IP. */
  readonly servername?: string;
  /** The certificate must carry one of these (DNS or IP SAN); default: the URL's host. */
  readonly names?: readonly string[];
  /** Accept any certificate (a policy's insecureSkipVerify). */
  readonly insecure?: boolean;
}

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

export function httpsFetch(opts: HttpsFetchOptions): FetchLike {
  const agent = new https.Agent({
    keepAlive: false,
    ...(opts.ca ? { ca: opts.ca } : {}),
    ...(opts.cert ? { cert: opts.cert } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    rejectUnauthorized: opts.insecure !== true,
    ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    ...(opts.names !== undefined
      ? {
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            let last: Error | undefined;
            for (const name of opts.names!) {
              last = checkServerIdentity(name, cert);
              if (last === undefined) return undefined;
            }
            return last;
          },
        }
      : {}),
  });
  return async (input, init = {}) => {
    const url = new URL(String(input));
    const headers: Record<string, string> = {};
    for (const [k, v] of new Headers(init.headers)) headers[k] = v;
    const body =
      init.body === undefined || init.body === null
        ? undefined
        : typeof init.body === 'string'
          ? Buffer.from(init.body)
          : Buffer.from(init.body as ArrayBuffer);
    if (body) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(
        url,
        { method: init.method ?? 'GET', headers, agent, ...(init.signal ? { signal: init.signal } : {}) },
        (res) => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) out.append(k, x);
            else if (v !== undefined) out.set(k, v);
          }
          const status = res.statusCode ?? 500;
          const noBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
          if (noBody) res.resume();
          resolve(
            new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), {
              status,
              statusText: res.statusMessage ?? '',
              headers: out,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}
