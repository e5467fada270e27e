// `subscriptions/listen` (2026-07-28) in front of a 2025-era stdio server: one
// long-lived POST answered with an SSE stream, that starts with
// `notifications/subscriptions/acknowledged` (the filter honored) and carries
// the change notifications the client opted in to, each stamped with the
// subscription id (the listen request's JSON-RPC id) in `_meta`. The server
// processes hear `resources/subscribe` for the URIs listened to, on every
// ready process (a resource may change under any of them), once per URI.
// Several processes saying the same thing at once reach a stream once: a
// notification only says "read it again", so repeats within a short window
// are folded into one that follows the last.
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import type { ProcessPool } from '../pool/process-pool.js';
import { errorText, isPlainObject, type JsonRpcId, RpcCode, type RpcNotification, type RpcRequest } from '../protocol/jsonrpc-message.js';
import { SERVER_INFO_META_KEY } from '../protocol/modern-results.js';
import type { ClientStream, Session } from '../sessions/session.js';
import type { SessionTable } from '../sessions/session-table.js';
import type { ModernBridgeMetrics } from './modern-bridge-metrics.js';

export const SUBSCRIPTION_ID_META_KEY = 'io.modelcontextprotocol/subscriptionId';

const FilterSchema = z.object({
  toolsListChanged: z.boolean().optional(),
  promptsListChanged: z.boolean().optional(),
  resourcesListChanged: z.boolean().optional(),
  resourceSubscriptions: z.array(z.string().min(1).max(2048)).max(256).optional(),
});
type Filter = z.infer<typeof FilterSchema>;

/** Repeats of one notification on one stream within this window become one, sent after the last. */
export const FOLD_WINDOW_MS = 200;

export interface ListenOptions {
  /** Streams open at once on this replica. */
  readonly maxStreams: number;
  /** For the adapter's own resources/subscribe requests to the processes. */
  readonly requestTimeoutMs: number;
}

export interface ListenDeps {
  readonly pool: ProcessPool<McpWorker, Session>;
  readonly sessions: SessionTable;
  readonly metrics: ModernBridgeMetrics;
  readonly logger: Logger;
  /** A listen request refused, by reason (mcpmesh_adapter_rejected_requests_total). */
  rejected(reason: string): void;
}

interface Listener {
  readonly id: JsonRpcId;
  readonly filter: Filter;
  readonly stream: ClientStream;
  readonly uris: ReadonlySet<string>;
  /** Per notification key: when it was last sent, and the trailing send pending. */
  readonly folds: Map<string, { at: number; timer: NodeJS.Timeout | undefined }>;
}

function stamped(method: string, params: Record<string, unknown> | undefined, id: JsonRpcId): string {
  const meta = isPlainObject(params?.['_meta']) ? params['_meta'] : {};
  return JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_META_KEY]: id } } });
}

export class ListenRegistry {
  private readonly open = new Set<Listener>();
  /** Listeners per resource URI (the processes are subscribed while it is above zero). */
  private readonly uriCount = new Map<string, number>();

  constructor(
    private readonly opts: ListenOptions,
    private readonly deps: ListenDeps,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Whether a stream listens to the URI (its processes are subscribed to it). */
  listens(uri: string): boolean {
    return this.uriCount.has(uri);
  }

  /** `openStream` starts the SSE answer on `res`. */
  serve(res: ServerResponse, msg: RpcRequest, acceptsSse: boolean, openStream: () => ClientStream): void {
    const fail = (status: number, code: number, message: string, reason: string): void => {
      this.deps.rejected(reason);
      const body = errorText(msg.id, code, message);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (!acceptsSse)
      return fail(406, RpcCode.ServerError, 'Not Acceptable: subscriptions/listen answers with text/event-stream', 'not_acceptable');
    const parsed = FilterSchema.safeParse(msg.params?.['notifications']);
    if (!parsed.success)
      return fail(
        200,
        RpcCode.InvalidParams,
        "Invalid params: 'notifications' is required and must be a valid SubscriptionFilter",
        'invalid_params',
      );
    if (this.open.size >= this.opts.maxStreams) return fail(200, RpcCode.InternalError, 'Subscription limit reached', 'too_many_listens');
    const identity = this.deps.pool.identity();
    if (identity === undefined) return fail(503, RpcCode.ServerError, 'Server unavailable: no server process is ready', 'unavailable');
    const caps = identity.capabilities as Record<string, Record<string, unknown> | undefined>;
    // What the server can deliver: its capabilities narrow what was asked.
    const honored: Filter = {};
    const f = parsed.data;
    if (f.toolsListChanged === true && caps['tools']?.['listChanged'] === true) honored.toolsListChanged = true;
    if (f.promptsListChanged === true && caps['prompts']?.['listChanged'] === true) honored.promptsListChanged = true;
    if (f.resourcesListChanged === true && caps['resources']?.['listChanged'] === true) honored.resourcesListChanged = true;
    if (f.resourceSubscriptions !== undefined && f.resourceSubscriptions.length > 0 && caps['resources']?.['subscribe'] === true)
      honored.resourceSubscriptions = [...new Set(f.resourceSubscriptions)];
    const uris = new Set(honored.resourceSubscriptions ?? []);
    const stream = openStream();
    const listener: Listener = { id: msg.id, filter: honored, stream, uris, folds: new Map() };
    this.open.add(listener);
    this.deps.metrics.listenOpened();
    stream.onClose(() => this.closed(listener));
    // Subscribed on the processes before the acknowledgement: an update after it is delivered.
    void this.subscribe(uris).then(() => {
      if (stream.closed) return;
      stream.send(stamped('notifications/subscriptions/acknowledged', { notifications: honored }, msg.id));
      if (Object.keys(honored).length === 0) this.end(listener, identity.serverInfo);
    });
  }

  /** A change notification from a server process. */
  notify(_worker: McpWorker, msg: RpcNotification): void {
    if (this.open.size === 0) return;
    const uri = msg.params?.['uri'];
    for (const l of this.open) {
      if (!this.wants(l, msg.method, uri)) continue;
      this.fold(l, `${msg.method}\0${typeof uri === 'string' ? uri : ''}`, () => {
        if (l.stream.send(stamped(msg.method, msg.params, l.id))) this.deps.metrics.listenDelivered(msg.method);
      });
    }
  }

  /** A (re)started process: the URIs listened to. */
  workerReady(worker: McpWorker): void {
    for (const uri of this.uriCount.keys()) void this.internal(worker, 'resources/subscribe', { uri });
  }

  /** Shutdown: every stream gets the graceful-close result. */
  closeAll(): void {
    const info = this.deps.pool.identity()?.serverInfo;
    for (const l of [...this.open]) this.end(l, info);
  }

  private wants(l: Listener, method: string, uri: unknown): boolean {
    switch (method) {
      case 'notifications/tools/list_changed':
        return l.filter.toolsListChanged === true;
      case 'notifications/prompts/list_changed':
        return l.filter.promptsListChanged === true;
      case 'notifications/resources/list_changed':
        return l.filter.resourcesListChanged === true;
      case 'notifications/resources/updated':
        return typeof uri === 'string' && l.uris.has(uri);
      default:
        return false;
    }
  }

  private fold(l: Listener, key: string, send: () => void): void {
    const now = Date.now();
    const f = l.folds.get(key);
    if (f === undefined || (f.timer === undefined && now - f.at >= FOLD_WINDOW_MS)) {
      l.folds.set(key, { at: now, timer: undefined });
      send();
      return;
    }
    if (f.timer !== undefined) return;
    f.timer = setTimeout(
      () => {
        f.timer = undefined;
        f.at = Date.now();
        send();
      },
      FOLD_WINDOW_MS - (now - f.at),
    );
    f.timer.unref();
  }

  private end(l: Listener, serverInfo: Record<string, unknown> | undefined): void {
    const meta: Record<string, unknown> = { [SUBSCRIPTION_ID_META_KEY]: l.id };
    if (serverInfo !== undefined) meta[SERVER_INFO_META_KEY] = serverInfo;
    l.stream.send(JSON.stringify({ jsonrpc: '2.0', id: l.id, result: { resultType: 'complete', _meta: meta } }));
    l.stream.end();
  }

  private closed(l: Listener): void {
    if (!this.open.delete(l)) return;
    for (const f of l.folds.values()) if (f.timer !== undefined) clearTimeout(f.timer);
    for (const uri of l.uris) {
      const n = (this.uriCount.get(uri) ?? 1) - 1;
      if (n > 0) {
        this.uriCount.set(uri, n);
        continue;
      }
      this.uriCount.delete(uri);
      for (const w of this.deps.pool.readyWorkers()) {
        let sessionHolds = false;
        for (const s of this.deps.sessions.pinnedTo(w.slot)) if (s.subscriptions.has(uri)) sessionHolds = true;
        if (!sessionHolds) void this.internal(w, 'resources/unsubscribe', { uri });
      }
    }
  }

  private async subscribe(uris: ReadonlySet<string>): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const uri of uris) {
      const n = this.uriCount.get(uri) ?? 0;
      this.uriCount.set(uri, n + 1);
      if (n > 0) continue;
      for (const w of this.deps.pool.readyWorkers()) jobs.push(this.internal(w, 'resources/subscribe', { uri }));
    }
    await Promise.all(jobs);
  }

  private async internal(worker: McpWorker, method: string, params: Record<string, unknown>): Promise<void> {
    try {
      const r = await worker.request(method, params, this.opts.requestTimeoutMs);
      if (r.error !== undefined) this.deps.logger.warn({ method, error: r.error.message }, 'the server refused a listen subscription');
    } catch (err) {
      this.deps.logger.warn({ method, err: (err as Error).message }, 'a listen subscription did not reach the process');
    }
  }
}
