// The fault suite's second load: 2025-era sessions, as nearly every agent
// speaks them today. Each session is the official SDK 1.x `Client` with its
// `StreamableHTTPClientTransport`, used as it is: no re-initialize on 404, no
// retry of ours. Together the sessions call one tool at a fixed rate through
// Envoy (each session one call at a time, paced like tool-load.ts's workers),
// and every call is recorded with its session, so that a scenario can count
// failures and lost sessions as well as see when traffic is balanced again.
//
// The client is only observed: its `fetch` is wrapped to count the requests
// it sends outside calls (the GET event stream and its reconnects, the
// `notifications/initialized` POST, DELETE), and its `onerror` reports are
// counted by kind. Neither changes what the client does.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallRecord, LoadOptions, RunningLoad } from './tool-load.js';

/** What the SDK clients did besides the calls, and what they reported. */
export interface ClientObservations {
  /** GET requests (the session's event stream) by answer: HTTP status, or the error. */
  readonly gets: ReadonlyMap<string, number>;
  /** When each GET was sent (performance.now()). */
  readonly getTimes: readonly number[];
  /** POSTs of `notifications/initialized` by answer. */
  readonly initialized: ReadonlyMap<string, number>;
  /** The clients' `onerror` reports by message (ids and numbers blurred), with when the first came. */
  readonly errors: ReadonlyMap<string, { n: number; first: number }>;
}

export interface RunningSessionLoad extends RunningLoad {
  /** The number of sessions (each one client). */
  readonly sessions: number;
  /**
   * Per session, the upstream (host:port) Envoy pinned it to when it was
   * opened: read from the session id, which Envoy's stateful-session filter
   * wraps as base64(host:port);UV:base64(the adapter's id).
   */
  readonly pinnedTo: readonly (string | undefined)[];
  readonly observed: ClientObservations;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

function errorDetail(err: unknown): string {
  const e = err as Error & { code?: unknown; cause?: NodeJS.ErrnoException };
  const code = typeof e.code === 'number' || typeof e.code === 'string' ? String(e.code) : (e.cause?.code ?? '');
  return `${e.name ?? 'Error'} ${code} ${e.message ?? String(err)}`.replace(/\s+/g, ' ').slice(0, 200);
}

/**
 * Opens `o.concurrency` sessions (one after another, before the load starts:
 * a session that cannot be opened is a broken mesh, not a fault's effect),
 * then starts the load; each session paces itself so that together they send
 * `o.callsPerSecond`.
 */
export async function startSessionLoad(o: LoadOptions): Promise<RunningSessionLoad> {
  const gets = new Map<string, number>();
  const getTimes: number[] = [];
  const initialized = new Map<string, number>();
  const errors = new Map<string, { n: number; first: number }>();
  // Only requests that are not calls are looked at; calls pass untouched.
  const observingFetch: typeof fetch = async (input, init) => {
    const method = init?.method ?? 'GET';
    const isInitialized = method === 'POST' && typeof init?.body === 'string' && init.body.includes('"notifications/initialized"');
    if (method !== 'GET' && !isInitialized) return fetch(input, init);
    const tally = method === 'GET' ? gets : initialized;
    if (method === 'GET') getTimes.push(performance.now());
    try {
      const res = await fetch(input, init);
      bump(tally, String(res.status));
      return res;
    } catch (err) {
      bump(
        tally,
        (err as Error).name === 'AbortError'
          ? 'aborted'
          : `error ${((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (err as Error).message}`,
      );
      throw err;
    }
  };
  const clients: Client[] = [];
  let closing = false;
  try {
    for (let i = 0; i < o.concurrency; i++) {
      const client = new Client({ name: `faults-2025-${i}`, version: '1.0.0' });
      client.onerror = (err) => {
        // Our own close() aborts the GET stream: not the fault's doing.
        if (closing) return;
        const key = errorDetail(err).replace(/"id":\d+/g, '"id":N');
        const seen = errors.get(key);
        if (seen) seen.n++;
        else errors.set(key, { n: 1, first: performance.now() });
      };
      await client.connect(
        new StreamableHTTPClientTransport(new URL(o.url), { fetch: observingFetch, requestInit: { headers: { ...o.headers } } }),
      );
      clients.push(client);
    }
  } catch (err) {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    throw err;
  }

  const records: CallRecord[] = [];
  let stopped = false;
  const began = performance.now();
  const gapMs = (1000 * o.concurrency) / o.callsPerSecond;
  const callOnce = async (client: Client, session: number): Promise<CallRecord> => {
    const start = performance.now();
    try {
      const result = await client.callTool({ name: o.tool, arguments: o.args }, undefined, { timeout: 30_000 });
      const end = performance.now();
      const content = result.content as readonly { type: string; text?: string }[] | undefined;
      const text = content?.[0]?.type === 'text' ? (content[0].text ?? '') : '';
      const ok = result.isError !== true;
      return {
        start,
        end,
        ok,
        session,
        replica: / on (r\d+)/.exec(text)?.[1],
        detail: ok ? undefined : `tool error: ${text.slice(0, 160)}`,
      };
    } catch (err) {
      return { start, end: performance.now(), ok: false, session, replica: undefined, detail: errorDetail(err) };
    }
  };
  const workers = clients.map(async (client, w) => {
    let due = began + (w * gapMs) / o.concurrency;
    while (!stopped && records.length < o.maxCalls && performance.now() - began < o.maxMs) {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      records.push(await callOnce(client, w));
      // A session that fell behind does not burst to catch up.
      due = Math.max(due + gapMs, performance.now() - gapMs);
    }
  });
  return {
    records,
    sessions: clients.length,
    pinnedTo: clients.map((c) => pinnedHost((c.transport as StreamableHTTPClientTransport | undefined)?.sessionId)),
    observed: { gets, getTimes, initialized, errors },
    async stop() {
      stopped = true;
      await Promise.all(workers);
      closing = true;
      // close() only aborts the client's requests (the GET stream); the
      // sessions go with the mesh.
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      return records;
    },
  };
}

function pinnedHost(sessionId: string | undefined): string | undefined {
  const head = /^([A-Za-z0-9+/=_-]+);UV:/.exec(sessionId ?? '')?.[1];
  if (head === undefined) return undefined;
  const host = Buffer.from(head, 'base64').toString('utf8');
  return /^[\w.:[\]-]+:\d+$/.test(host) ? host : undefined;
}

/**
 * The sessions that are lost: after their first failed call, none of their
 * later calls succeeded by the end of the run. With the first failure of each.
 */
export function lostSessions(records: readonly CallRecord[]): { session: number; firstFailure: CallRecord }[] {
  const firstFailure = new Map<number, CallRecord>();
  for (const r of records) {
    if (r.session === undefined || r.ok) continue;
    const f = firstFailure.get(r.session);
    if (f === undefined || r.start < f.start) firstFailure.set(r.session, r);
  }
  const recovered = new Set<number>();
  for (const r of records) {
    if (r.session === undefined || !r.ok) continue;
    const f = firstFailure.get(r.session);
    if (f !== undefined && r.start > f.start) recovered.add(r.session);
  }
  return [...firstFailure].filter(([s]) => !recovered.has(s)).map(([session, f]) => ({ session, firstFailure: f }));
}

/**
 * Recovery for sessions: from `from` (the end of the fault) until every
 * session has answered a call that started after it, or undefined if one has
 * not by the end of the run. A 2025-era session stays on the replica that
 * serves it (Envoy re-pins a moved session to its new replica, for process
 * locality), so sessions moved off a failed replica do not return when it
 * does: balance across replicas, the stateless calls' measure, is not one a
 * session load can meet. What a session's agent sees is whether its calls
 * work again.
 */
export function sessionRecoveryTime(records: readonly CallRecord[], sessions: number, from: number): number | undefined {
  const firstOk = new Map<number, number>();
  for (const r of records) {
    if (r.session === undefined || !r.ok || r.start < from) continue;
    const seen = firstOk.get(r.session);
    if (seen === undefined || r.end < seen) firstOk.set(r.session, r.end);
  }
  if (firstOk.size < sessions) return undefined;
  return Math.max(0, ...[...firstOk.values()].map((t) => t - from));
}
