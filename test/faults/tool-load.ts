// A steady, bounded load of MCP tool calls (2026-07-28 stateless requests)
// through Envoy: a fixed call rate spread over a few connections, every call
// recorded with its outcome and the replica that answered, so that a fault
// scenario can count failures and see when traffic is balanced again.
import { MODERN_META, postToolCall } from '../support/modern-call.js';

export interface CallRecord {
  /** performance.now() when the call started and ended. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** The 2025-era session (session-load.ts) that made the call; undefined for stateless calls. */
  readonly session?: number;
  /** The fixture's replica label, for answers of `slow`. */
  readonly replica: string | undefined;
  /** Status and the start of the body (or the error), for failures. */
  readonly detail: string | undefined;
}

export interface LoadOptions {
  readonly url: string;
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly callsPerSecond: number;
  readonly concurrency: number;
  /** Hard bounds: the load stops at whichever comes first. */
  readonly maxCalls: number;
  readonly maxMs: number;
  /** Sent with every request (a bearer token when the mesh requires one). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RunningLoad {
  readonly records: readonly CallRecord[];
  stop(): Promise<readonly CallRecord[]>;
}

let nextId = 1;

async function call(
  url: string,
  tool: string,
  args: Record<string, unknown>,
  headers: Readonly<Record<string, string>>,
): Promise<CallRecord> {
  const start = performance.now();
  try {
    const res = await postToolCall(url, tool, args, { id: nextId++, signal: AbortSignal.timeout(30_000), headers: { ...headers } });
    const text = await res.text();
    const end = performance.now();
    const ok = res.status === 200 && text.includes('"result"') && !text.includes('"isError":true');
    return { start, end, ok, replica: / on (r\d+)/.exec(text)?.[1], detail: ok ? undefined : `${res.status} ${text.slice(0, 160)}` };
  } catch (err) {
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    return { start, end: performance.now(), ok: false, replica: undefined, detail: `${cause?.code ?? ''} ${(err as Error).message}` };
  }
}

/** One tools/list through Envoy; the status, or 0 when the connection failed. */
export async function probeCall(url: string, headers: Readonly<Record<string, string>> = {}): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/list',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'tools/list', params: { _meta: MODERN_META } }),
    signal: AbortSignal.timeout(5_000),
  }).catch(() => undefined);
  await res?.text();
  return res?.status ?? 0;
}

/** Starts the load; each worker paces itself so that together they send `callsPerSecond`. */
export function startLoad(o: LoadOptions): RunningLoad {
  const records: CallRecord[] = [];
  let stopped = false;
  const began = performance.now();
  const gapMs = (1000 * o.concurrency) / o.callsPerSecond;
  const workers = Array.from({ length: o.concurrency }, async (_, w) => {
    let due = began + (w * gapMs) / o.concurrency;
    while (!stopped && records.length < o.maxCalls && performance.now() - began < o.maxMs) {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      records.push(await call(o.url, o.tool, o.args, o.headers ?? {}));
      // A worker that fell behind does not burst to catch up.
      due = Math.max(due + gapMs, performance.now() - gapMs);
    }
  });
  return {
    records,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      return records;
    },
  };
}

/**
 * When traffic is balanced again over `replicas`: the first moment after
 * `from` from which, in every `windowMs` window for `holdMs`, each replica
 * answered at least half of its fair share of the calls.
 */
export function recoveryTime(
  records: readonly CallRecord[],
  replicas: readonly string[],
  from: number,
  windowMs = 250,
  holdMs = 1_000,
): number | undefined {
  const last = records.reduce((m, r) => Math.max(m, r.end), 0);
  const balancedAt = (t: number): boolean => {
    const counts = new Map<string, number>();
    let total = 0;
    for (const r of records) {
      if (r.end < t || r.end >= t + windowMs || !r.ok) continue;
      total++;
      if (r.replica !== undefined) counts.set(r.replica, (counts.get(r.replica) ?? 0) + 1);
    }
    if (total === 0) return false;
    return replicas.every((id) => (counts.get(id) ?? 0) >= (0.5 * total) / replicas.length);
  };
  for (let t = from; t + holdMs <= last; t += windowMs / 5) {
    let held = true;
    for (let w = t; w < t + holdMs; w += windowMs) {
      if (!balancedAt(w)) {
        held = false;
        break;
      }
    }
    if (held) return t - from;
  }
  return undefined;
}

/** The share of successful calls each replica answered between two moments. */
export function shares(records: readonly CallRecord[], from: number, to: number): Map<string, number> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const r of records) {
    if (r.end < from || r.end >= to || !r.ok || r.replica === undefined) continue;
    total++;
    counts.set(r.replica, (counts.get(r.replica) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / Math.max(1, total)]));
}
