// Messages a server process starts on its own — requests to the client
// (sampling, elicitation, roots) and notifications — and the client's answers
// to those requests. Over stdio nothing says which client a server request is
// for, so it goes to the one session that may be asking: the session holding
// the process for its exclusive calls (see Placement in pool/call.ts), when
// every call in flight there is that session's; anything ambiguous is refused
// rather than shown to the wrong client.
import type { Logger } from '../../lib/log.js';
import type { AdapterMetrics } from '../metrics.js';
import type { Call } from '../pool/call.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import { replaceTopLevelId } from '../protocol/jsonrpc-ids.js';
import { errorText, RpcCode, type RpcNotification, type RpcRequest, type RpcResponse } from '../protocol/jsonrpc-message.js';
import type { Session } from './session.js';
import type { SessionTable } from './session-table.js';

interface PendingServerRequest {
  readonly worker: McpWorker;
  readonly serverIdJson: string;
  readonly session: Session;
  readonly method: string;
}

export interface ServerMessageDeps {
  readonly sessions: SessionTable;
  readonly metrics: AdapterMetrics;
  readonly logger: Logger;
  /** The server said its tool list changed. */
  toolsChanged(worker: McpWorker): void;
  /** The session whose exclusive calls hold the process (see Placement). */
  holderOf(worker: McpWorker): Session | undefined;
  /**
   * A request for the client of the 2026-07-28 call running alone on the
   * process (Placement `solo`): true when the multi round-trip bridge took it.
   */
  soloAsked?(worker: McpWorker, serverIdJson: string, msg: RpcRequest): boolean;
  /** A change notification, for subscriptions/listen streams. */
  changed?(worker: McpWorker, msg: RpcNotification): void;
}

/** Server requests withdrawn (the server cancelled one, its session ended) remembered, so a late answer is not taken for a lost one. */
const WITHDRAWN_MEMORY = 1_024;

/**
 * What became of a client's answer: delivered to the process that asked;
 * for a request withdrawn meanwhile; or for a request this replica does not
 * have pending — its process died, or it was asked on another replica (the
 * ids are this replica's own counter), so nothing can take the answer.
 */
export type ClientAnswer = 'delivered' | 'withdrawn' | 'lost';

export class ServerMessageRouter {
  private nextId = 1;
  private readonly pending = new Map<number, PendingServerRequest>();
  private readonly withdrawn = new Set<number>();

  constructor(private readonly deps: ServerMessageDeps) {}

  serverRequest(worker: McpWorker, line: string, msg: RpcRequest): void {
    const serverIdJson = JSON.stringify(msg.id);
    if (msg.method === 'ping') {
      worker.send(`{"jsonrpc":"2.0","id":${serverIdJson},"result":{}}`);
      this.deps.metrics.serverRequest(msg.method, 'answered');
      return;
    }
    if (this.deps.soloAsked?.(worker, serverIdJson, msg) === true) {
      this.deps.metrics.serverRequest(msg.method, 'forwarded');
      return;
    }
    const session = this.attribute(worker, msg.method);
    const adapterId = this.nextId++;
    const text =
      replaceTopLevelId(line, serverIdJson, String(adapterId)) ??
      JSON.stringify({ jsonrpc: '2.0', id: adapterId, method: msg.method, params: msg.params });
    if (session === undefined || !this.deliver(session, worker, text)) {
      this.deps.metrics.serverRequest(msg.method, 'refused');
      this.deps.logger.warn({ method: msg.method, slot: worker.slot }, 'server request has no client that can answer it; refused');
      worker.send(
        errorText(
          msg.id,
          RpcCode.MethodNotFound,
          `mcpmesh adapter: no client of this call can answer ${msg.method} (the client did not declare the capability, or several clients share this process)`,
        ),
      );
      return;
    }
    this.pending.set(adapterId, { worker, serverIdJson, session, method: msg.method });
    this.deps.metrics.serverRequest(msg.method, 'forwarded');
  }

  /**
   * A client's answer to a server request, posted in its session: back to the
   * process with the server's own id. False when it answers nothing pending.
   */
  clientResponse(session: Session, msg: RpcResponse, bodyText: string): ClientAnswer {
    if (typeof msg.id !== 'number') return 'lost';
    const p = this.pending.get(msg.id);
    if (p === undefined || p.session !== session) return this.withdrawn.has(msg.id) ? 'withdrawn' : 'lost';
    this.pending.delete(msg.id);
    const text =
      replaceTopLevelId(bodyText, String(msg.id), p.serverIdJson) ??
      JSON.stringify(
        msg.error !== undefined
          ? { jsonrpc: '2.0', id: JSON.parse(p.serverIdJson) as unknown, error: msg.error }
          : { jsonrpc: '2.0', id: JSON.parse(p.serverIdJson) as unknown, result: msg.result },
      );
    if (!p.worker.send(text)) {
      this.deps.logger.info({ method: p.method }, 'client answered a server request of a process that is gone');
      return 'lost';
    }
    return 'delivered';
  }

  private withdraw(adapterId: number): void {
    this.pending.delete(adapterId);
    this.withdrawn.add(adapterId);
    if (this.withdrawn.size > WITHDRAWN_MEMORY) this.withdrawn.delete(this.withdrawn.values().next().value!);
  }

  serverNotification(worker: McpWorker, line: string, msg: RpcNotification): void {
    switch (msg.method) {
      case 'notifications/cancelled': {
        // The server gave up on one of its own requests to a client.
        const requestId = msg.params?.['requestId'];
        const idJson = JSON.stringify(requestId);
        for (const [adapterId, p] of this.pending) {
          if (p.worker !== worker || p.serverIdJson !== idJson) continue;
          this.withdraw(adapterId);
          this.deliver(
            p.session,
            worker,
            JSON.stringify({ jsonrpc: '2.0', method: msg.method, params: { ...msg.params, requestId: adapterId } }),
          );
          return;
        }
        return;
      }
      case 'notifications/resources/updated': {
        this.deps.changed?.(worker, msg);
        const uri = msg.params?.['uri'];
        for (const s of this.deps.sessions.pinnedTo(worker.slot))
          if (typeof uri === 'string' && s.subscriptions.has(uri)) s.stream?.send(line);
        return;
      }
      case 'notifications/tools/list_changed':
        this.deps.toolsChanged(worker);
        this.deps.changed?.(worker, msg);
        this.broadcast(worker, line);
        return;
      case 'notifications/prompts/list_changed':
      case 'notifications/resources/list_changed':
        this.deps.changed?.(worker, msg);
        this.broadcast(worker, line);
        return;
      case 'notifications/message': {
        const target = this.callFor(worker);
        if (target !== undefined && (target.init.era === 'legacy' || target.init.logLevel !== undefined) && target.event(line)) return;
        for (const s of this.deps.sessions.pinnedTo(worker.slot)) if (s.logLevel !== undefined) s.stream?.send(line);
        return;
      }
      default: {
        const owner = this.soleOwner(worker);
        if (owner !== undefined && this.deliver(owner, worker, line)) return;
        this.broadcast(worker, line);
      }
    }
  }

  /** A process ended: its pending requests can no longer be answered. */
  workerGone(worker: McpWorker): void {
    for (const [id, p] of this.pending) if (p.worker === worker) this.pending.delete(id);
  }

  /** A session ended: the server's questions to it get an error. */
  sessionClosed(session: Session): void {
    for (const [id, p] of this.pending) {
      if (p.session !== session) continue;
      this.withdraw(id);
      p.worker.send(
        `{"jsonrpc":"2.0","id":${p.serverIdJson},"error":{"code":${RpcCode.InternalError},"message":"mcpmesh adapter: the client session ended"}}`,
      );
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** The session that owns the process, if every call in flight there is its. */
  private soleOwner(worker: McpWorker): Session | undefined {
    const owner = this.deps.holderOf(worker);
    if (owner === undefined) return undefined;
    for (const c of worker.calls.values()) if (c.init.session !== owner) return undefined;
    return owner;
  }

  private attribute(worker: McpWorker, method: string): Session | undefined {
    const owner = this.soleOwner(worker);
    if (owner !== undefined) return owner.accepts(method) ? owner : undefined;
    if (this.deps.holderOf(worker) !== undefined || worker.calls.size > 0) return undefined;
    // Nothing in flight (e.g. roots/list after the client said its roots
    // changed): the one session pinned here that can answer, if only one.
    let found: Session | undefined;
    for (const s of this.deps.sessions.pinnedTo(worker.slot)) {
      if (!s.accepts(method)) continue;
      if (found !== undefined) return undefined;
      found = s;
    }
    return found;
  }

  /** The newest call of the session on this process that can still stream, else its GET stream. */
  private deliver(session: Session, worker: McpWorker, text: string): boolean {
    let target: Call | undefined;
    for (const c of session.calls) if (c.worker === worker && !c.settled && c.init.sink.canStream && !c.init.sink.closed) target = c;
    if (target?.event(text)) return true;
    return session.stream?.send(text) ?? false;
  }

  /** The call a call-less notification most likely belongs to. */
  private callFor(worker: McpWorker): Call | undefined {
    const owner = this.soleOwner(worker);
    if (owner !== undefined) {
      let newest: Call | undefined;
      for (const c of owner.calls) if (c.worker === worker && !c.settled) newest = c;
      return newest;
    }
    if (worker.calls.size !== 1) return undefined;
    return worker.calls.values().next().value;
  }

  private broadcast(worker: McpWorker, line: string): void {
    for (const s of this.deps.sessions.pinnedTo(worker.slot)) s.stream?.send(line);
  }
}
