// The MCP endpoint (POST, GET, DELETE on one path) for both protocol
// generations: 2026-07-28 stateless requests, checked against their
// Mcp-Method/Mcp-Name headers and sent to any process; and 2025-era sessions,
// created by the adapter on `initialize` and pinned to one process for what
// needs process state. Every refusal has one answer, the one
// test/integration/adapter/bad-input.test.ts asserts. A session id this
// replica does not know is taken over (SessionHandover) when it is valid, and
// refused with 404 when not.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.js';
import { AGENT_IDENTITY_HEADER, LEGACY_VERSIONS, MODERN_VERSION, RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { AdapterMetrics } from '../metrics.js';
import { MrtrBridge } from '../modern/mrtr-bridge.js';
import type { ListenRegistry } from '../modern/subscriptions-listen.js';
import { Call, type CallHooks, type Era, type Placement } from '../pool/call.js';
import { CallDeadlines } from '../pool/call-deadlines.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import type { ProcessPool } from '../pool/process-pool.js';
import type { Outcome } from '../protocol/failure-classes.js';
import {
  errorText,
  isPlainObject,
  type JsonRpcId,
  RpcCode,
  type RpcNotification,
  type RpcRequest,
  type RpcResponse,
  readMessage,
} from '../protocol/jsonrpc-message.js';
import { checkStandardHeaders, readStandardHeaders } from '../protocol/mcp-headers.js';
import { isModernRequestMethod, isModernVersion, readEnvelope } from '../protocol/modern-envelope.js';
import { discoverResult } from '../protocol/modern-results.js';
import { checkParamHeaders } from '../protocol/param-header-check.js';
import type { RequestBody } from '../protocol/request-body.js';
import type { AcceptView } from '../protocol/request-checks.js';
import type { ServerMessageRouter } from '../sessions/server-message-router.js';
import { abilitiesOf, type Session } from '../sessions/session.js';
import type { Adoption, RefusalReason, SessionHandover } from '../sessions/session-handover.js';
import type { SessionKeeper } from '../sessions/session-keeper.js';
import type { LimitRefusal, SessionLimiter, SessionOrigin } from '../sessions/session-limits.js';
import type { SessionTable } from '../sessions/session-table.js';
import type { ToolCatalog } from '../tool-catalog.js';
import type { CallSpan, CallTracer } from '../tracing.js';
import { type ResumeCursor, readResumeCursor, SessionEvents } from './event-replay.js';
import { HttpExchange } from './http-exchange.js';
import { type PostEventCursor, type PostStreams, readPostEventId } from './post-stream-resume.js';
import { SseStream } from './sse-stream.js';

/** Methods that change what the session's process holds for the session. */
const PROCESS_STATE_METHODS = new Set([
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
  'tasks/get',
  'tasks/list',
  'tasks/cancel',
  'tasks/result',
]);
/** Methods a server answers without asking the client anything. */
const LISTING_METHODS = new Set([
  'ping',
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'completion/complete',
]);

export interface EndpointOptions {
  /** The server's name (spans name it). */
  readonly server: string;
  readonly callTimeoutMs: number;
  readonly keepAliveMs: number;
}

export interface EndpointDeps {
  readonly pool: ProcessPool<McpWorker, Session>;
  readonly sessions: SessionTable;
  readonly keeper: SessionKeeper;
  readonly handover: SessionHandover;
  readonly limiter: SessionLimiter;
  /** Who a request comes from, for the session limits (client-origin.ts). */
  readonly origin: (req: IncomingMessage) => SessionOrigin;
  readonly router: ServerMessageRouter;
  readonly tools: ToolCatalog;
  readonly metrics: AdapterMetrics;
  readonly logger: Logger;
  /** Present when tracing is on (adapter/tracing.ts). */
  readonly tracer?: CallTracer;
  /** Elicitation and sampling for 2026-07-28 clients (modern/mrtr-bridge.ts). */
  readonly mrtr?: MrtrBridge;
  /** subscriptions/listen (modern/subscriptions-listen.ts). */
  readonly listen?: ListenRegistry;
  /** The session calls' resumable SSE answers (post-stream-resume.ts). */
  readonly postStreams?: PostStreams;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function reply(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

export class McpEndpoint {
  readonly hooks: CallHooks<Session>;
  private readonly deadlines: CallDeadlines | undefined;

  constructor(
    private readonly opts: EndpointOptions,
    private readonly deps: EndpointDeps,
  ) {
    this.deadlines = opts.callTimeoutMs > 0 ? new CallDeadlines(opts.callTimeoutMs) : undefined;
    this.hooks = {
      settled: (call, outcome, retryable) => this.settled(call, outcome, retryable),
      replaySafe: (call) => call.init.method !== 'tools/call' || deps.tools.replaySafe(call.init.tool),
    };
  }

  /** An HTTP error with a JSON-RPC error body, counted by reason. */
  private refuse(
    res: ServerResponse,
    reason: string,
    status: number,
    id: JsonRpcId | null,
    code: number,
    message: string,
    data?: unknown,
    extra?: Record<string, string>,
  ): void {
    this.deps.metrics.rejected(reason);
    reply(res, status, errorText(id, code, message, data), extra);
  }

  post(req: IncomingMessage, res: ServerResponse, value: unknown, body: RequestBody, accept: AcceptView): void {
    const msg = readMessage(value);
    if (msg.kind === 'invalid')
      return this.refuse(res, 'invalid_request', 400, msg.id, RpcCode.InvalidRequest, `Invalid Request: ${msg.reason}`);
    const sid = header(req, 'mcp-session-id');
    if (msg.kind === 'response') {
      if (sid === undefined)
        return this.refuse(
          res,
          'response_without_session',
          400,
          null,
          RpcCode.InvalidRequest,
          'Bad Request: JSON-RPC responses can only be posted in a 2025-era session (Mcp-Session-Id)',
        );
      const known = this.seen(sid);
      if (known !== undefined) return this.clientAnswer(res, known, msg, body.text);
      return this.adoptThen(req, res, null, sid, 'post', (session) => this.clientAnswer(res, session, msg, body.text));
    }
    if (msg.kind === 'request' && !accept.json) {
      return this.refuse(
        res,
        'not_acceptable',
        406,
        msg.id,
        RpcCode.ServerError,
        'Not Acceptable: Client must accept application/json and text/event-stream',
      );
    }
    const envelope = readEnvelope(msg.params);
    const std = readStandardHeaders(req.headers);
    const id = msg.kind === 'request' ? msg.id : null;
    if (envelope.kind === 'rejected') {
      const reason = envelope.code === RpcCode.UnsupportedProtocolVersion ? 'unsupported_version' : 'invalid_envelope';
      return this.refuse(res, reason, 400, id, envelope.code, envelope.message, envelope.data);
    }
    if (envelope.kind === 'modern') {
      const problem = checkStandardHeaders(msg.kind, msg.method, msg.params, envelope.version, std);
      if (problem !== undefined)
        return this.refuse(res, 'header_mismatch', problem.status, id, problem.code, problem.message, problem.data);
      const tool = msg.kind === 'request' && msg.method === 'tools/call' ? msg.params?.['name'] : undefined;
      const paramProblem =
        typeof tool === 'string'
          ? checkParamHeaders(this.deps.tools.paramHeaders(tool), msg.params?.['arguments'], req.headers)
          : undefined;
      if (paramProblem !== undefined)
        return this.refuse(res, 'header_mismatch', paramProblem.status, id, paramProblem.code, paramProblem.message, paramProblem.data);
      if (msg.kind === 'notification') {
        // Nothing to route without a session; 2026-07-28 cancels by closing the request's stream.
        res.writeHead(202).end();
        return;
      }
      return this.modern(res, msg, body, accept, envelope.logLevel);
    }
    if (std.protocolVersion !== undefined && isModernVersion(std.protocolVersion)) {
      if (msg.method === 'initialize') {
        return this.refuse(
          res,
          'header_mismatch',
          400,
          id,
          RpcCode.HeaderMismatch,
          'Bad Request: the request headers and body disagree: an initialize request (2025-era handshake) was sent with a 2026-07-28 MCP-Protocol-Version header',
          {
            mismatch: { header: std.protocolVersion, body: 'initialize' },
          },
        );
      }
      if (envelope.kind === 'none' && msg.kind === 'request') {
        return this.refuse(
          res,
          'invalid_envelope',
          400,
          id,
          RpcCode.InvalidParams,
          `Invalid params: the MCP-Protocol-Version header names protocol revision ${std.protocolVersion}, but the request is missing the _meta envelope`,
          {
            envelope: { missing: ['_meta'] },
          },
        );
      }
    }
    if (msg.kind === 'request' && msg.method === 'initialize') return this.initialize(req, res, msg, sid);
    if (sid === undefined) {
      return this.refuse(
        res,
        'missing_session',
        400,
        id,
        RpcCode.ServerError,
        `Bad Request: Mcp-Session-Id header is required (send initialize first, or send ${MODERN_VERSION} requests with their _meta envelope)`,
      );
    }
    if (std.protocolVersion !== undefined && !(LEGACY_VERSIONS as readonly string[]).includes(std.protocolVersion)) {
      return this.refuse(
        res,
        'unsupported_version',
        400,
        id,
        RpcCode.ServerError,
        `Bad Request: Unsupported protocol version: ${std.protocolVersion} (supported versions: ${[MODERN_VERSION, ...LEGACY_VERSIONS].join(', ')})`,
      );
    }
    const known = this.seen(sid);
    const go = (session: Session): void =>
      msg.kind === 'notification'
        ? this.sessionNotification(res, session, msg, body.text)
        : this.sessionRequest(res, session, msg, body, accept);
    if (known !== undefined) return go(known);
    return this.adoptThen(req, res, id, sid, 'post', go);
  }

  /** The session a request names, if this replica holds it; a request naming it is its client's follow-up to initialize. */
  private seen(sid: string): Session | undefined {
    const s = this.deps.sessions.get(sid);
    // After a pause it may have moved: the adoption path checks it with the store first.
    if (s === undefined || this.deps.handover.mustRecheck(s)) return undefined;
    this.deps.limiter.confirmed(s);
    return s;
  }

  /**
   * Too many sessions, of this client or on this replica: 429 with
   * Retry-After and why, never marked retryable. Envoy's routes retry 5xx and
   * answers marked retryable, and outlier detection counts 5xx: a 429 is
   * neither, so a flood stays on the replica it reached.
   */
  private tooMany(res: ServerResponse, id: JsonRpcId | null, refusal: LimitRefusal): void {
    this.refuse(
      res,
      'too_many_sessions',
      429,
      id,
      RpcCode.ServerError,
      refusal.message,
      { reason: refusal.reason, limit: refusal.limit, retryAfterSeconds: refusal.retryAfterSeconds },
      { 'retry-after': String(refusal.retryAfterSeconds) },
    );
  }

  /**
   * An id this replica does not know: taken over, then `then`; or refused —
   * 404 for an id that names no session it may carry on, 503 retryable when
   * it cannot take the session over now (Envoy tries another replica).
   */
  private adoptThen(
    req: IncomingMessage,
    res: ServerResponse,
    id: JsonRpcId | null,
    sid: string,
    via: 'post' | 'get',
    then: (session: Session) => void,
  ): void {
    this.deps.handover.adopt(sid, via, this.deps.origin(req)).then(
      (a: Adoption) => {
        if (res.writableEnded || res.destroyed) return;
        if (a.kind === 'refused') return this.refuse(res, 'unknown_session', 404, id, RpcCode.SessionNotFound, 'Session not found');
        if (a.kind === 'limited') return this.tooMany(res, id, a.refusal);
        if (a.kind === 'unavailable') {
          this.deps.metrics.rejected(a.reason);
          return reply(res, 503, errorText(id, RpcCode.ServerError, `Server unavailable: ${a.detail}`), { [RETRYABLE_HEADER]: 'true' });
        }
        try {
          then(a.session);
        } catch (err) {
          this.deps.logger.error({ err }, 'request handling failed');
          if (!res.headersSent) reply(res, 500, errorText(id, RpcCode.InternalError, 'Internal server error'));
          else res.end();
        }
      },
      (err: unknown) => {
        this.deps.logger.error({ err }, 'session adoption failed');
        if (!res.headersSent) reply(res, 500, errorText(id, RpcCode.InternalError, 'Internal server error'));
      },
    );
  }

  /** A client's answer to a server request. */
  private clientAnswer(res: ServerResponse, session: Session, msg: RpcResponse, bodyText: string): void {
    const outcome = this.deps.router.clientResponse(session, msg, bodyText);
    if (outcome !== 'lost') {
      res.writeHead(202, { 'mcp-session-id': session.id }).end();
      return;
    }
    // Not carried on: the request was asked by a process that died, or on
    // another replica; the call that asked it has failed or fails there.
    this.deps.metrics.sessionLost('server_request_lost');
    this.refuse(
      res,
      'server_request_lost',
      410,
      null,
      RpcCode.InternalError,
      'Gone: the server request this answers is no longer pending here (the server process that asked it, or the replica that carried the session then, is gone); the call that asked it did not complete',
      undefined,
      { 'mcp-session-id': session.id },
    );
  }

  get(req: IncomingMessage, res: ServerResponse, accept: AcceptView): void {
    const sid = header(req, 'mcp-session-id');
    if (sid === undefined) return this.refuseWithoutSession(res, 'the GET stream belongs to a 2025-era session (Mcp-Session-Id)');
    if (!accept.sse)
      return this.refuse(res, 'not_acceptable', 406, null, RpcCode.ServerError, 'Not Acceptable: Client must accept text/event-stream');
    const lastEventId = header(req, 'last-event-id');
    const post = lastEventId === undefined ? undefined : readPostEventId(lastEventId);
    if (post !== undefined) return this.resumePost(res, sid, post);
    const cursor = readResumeCursor(lastEventId);
    if (cursor.kind === 'invalid')
      return this.refuse(
        res,
        'invalid_event_id',
        400,
        null,
        RpcCode.ServerError,
        'Bad Request: Last-Event-ID is not an event id of this server (reconnect without it for a new stream)',
      );
    const known = this.seen(sid);
    if (known !== undefined) return this.openStream(res, known, cursor);
    this.adoptThen(req, res, null, sid, 'get', (session) => this.openStream(res, session, cursor));
  }

  /** A GET resuming the SSE answer of one of the session's calls (post-stream-resume.ts): only where the call runs. */
  private resumePost(res: ServerResponse, sid: string, cursor: PostEventCursor): void {
    const session = this.seen(sid);
    const answer = session === undefined || this.deps.postStreams === undefined ? undefined : this.deps.postStreams.find(cursor.stream);
    if (answer !== undefined && answer.sessionId === sid && answer.resumeOn(res, cursor.n)) return;
    this.refuse(
      res,
      'unknown_stream',
      404,
      null,
      RpcCode.ServerError,
      'Not Found: the stream this Last-Event-ID names is not open here (its call ended, or ran on a replica that is gone)',
    );
  }

  /** GET and DELETE name a session; without one only POST is allowed. */
  private refuseWithoutSession(res: ServerResponse, why: string): void {
    this.refuse(res, 'method_not_allowed', 405, null, RpcCode.ServerError, `Method Not Allowed: ${why}`, undefined, { allow: 'POST' });
  }

  private openStream(res: ServerResponse, session: Session, cursor: ResumeCursor): void {
    if (session.streaming)
      return this.refuse(res, 'stream_conflict', 409, null, RpcCode.ServerError, 'Conflict: Only one SSE stream is allowed per session');
    const stream = new SseStream(res, { 'mcp-session-id': session.id }, this.opts.keepAliveMs);
    session.attachStream(stream);
    const replay = session.replayWindow;
    if (replay instanceof SessionEvents) void replay.attach(stream, cursor);
  }

  delete(req: IncomingMessage, res: ServerResponse): void {
    const sid = header(req, 'mcp-session-id');
    if (sid === undefined) return this.refuseWithoutSession(res, 'DELETE ends a 2025-era session (Mcp-Session-Id)');
    const session = this.deps.sessions.get(sid);
    let ended: Promise<RefusalReason | undefined>;
    if (session !== undefined) {
      this.deps.keeper.close(session);
      ended = this.deps.handover.end(session).then(() => undefined);
    } else {
      // Ended wherever it is: every replica refuses the id from now on.
      ended = this.deps.handover.endUnknown(sid);
    }
    ended.then(
      (refused) => {
        if (res.writableEnded || res.destroyed) return;
        if (refused !== undefined) return this.refuse(res, 'unknown_session', 404, null, RpcCode.SessionNotFound, 'Session not found');
        res.writeHead(200).end();
      },
      (err: unknown) => {
        this.deps.logger.warn({ err: (err as Error).message }, 'could not end the session in the state store');
        if (!res.headersSent)
          reply(res, 503, errorText(null, RpcCode.ServerError, 'Server unavailable: the session state store is unavailable'), {
            [RETRYABLE_HEADER]: 'true',
          });
      },
    );
  }

  // ---- 2026-07-28 ----

  private modern(res: ServerResponse, msg: RpcRequest, body: RequestBody, accept: AcceptView, logLevel: string | undefined): void {
    if (!isModernRequestMethod(msg.method))
      return this.refuse(res, 'method_not_found', 404, msg.id, RpcCode.MethodNotFound, 'Method not found');
    if (msg.method === 'server/discover') {
      const identity = this.deps.pool.identity();
      if (identity === undefined || this.deps.pool.readyCount === 0) return this.unavailable(res, msg.id, 'no server process is ready');
      this.deps.metrics.recordCall(msg.method, undefined, 'ok', false, 0);
      return reply(res, 200, JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: discoverResult(identity) }));
    }
    if (msg.method === 'subscriptions/listen') {
      // Refused retryable while draining: Envoy opens the stream on another replica.
      if (this.deps.listen !== undefined && this.deps.pool.isDraining) return this.unavailable(res, msg.id, 'the adapter is draining');
      if (this.deps.listen !== undefined)
        return this.deps.listen.serve(res, msg, accept.sse, () => new SseStream(res, {}, this.opts.keepAliveMs));
      return this.refuse(
        res,
        'method_not_found',
        404,
        msg.id,
        RpcCode.MethodNotFound,
        'Method not found: the mcpmesh adapter does not serve subscriptions/listen',
      );
    }
    const mrtr = this.deps.mrtr;
    if (mrtr !== undefined && msg.params !== undefined && ('requestState' in msg.params || 'inputResponses' in msg.params))
      return mrtr.retry(res.req, res, msg, body.text, (onAbort) => {
        const exchange = new HttpExchange(res, accept.sse, undefined, this.deps.origin(res.req).client);
        exchange.onAbort = onAbort;
        return exchange;
      });
    if (this.deps.pool.isDraining) return this.unavailable(res, msg.id, 'the adapter is draining');
    const solo = mrtr !== undefined && MrtrBridge.answersServerRequests(msg.method, msg.params);
    this.startCall(res, msg, body, 'modern', undefined, solo ? 'solo' : 'any', logLevel, accept);
  }

  // ---- 2025-era sessions ----

  private initialize(req: IncomingMessage, res: ServerResponse, msg: RpcRequest, sid: string | undefined): void {
    if (sid !== undefined) {
      this.deps.metrics.initializeRefused('invalid');
      return this.refuse(
        res,
        'invalid_request',
        400,
        msg.id,
        RpcCode.InvalidRequest,
        'Invalid Request: initialize must not carry an Mcp-Session-Id (the session exists already)',
      );
    }
    const requested = msg.params?.['protocolVersion'];
    if (typeof requested !== 'string') {
      this.deps.metrics.initializeRefused('invalid');
      return this.refuse(
        res,
        'invalid_params',
        400,
        msg.id,
        RpcCode.InvalidParams,
        'Invalid params: initialize needs a protocolVersion string',
      );
    }
    if (this.deps.pool.isDraining) return this.initUnavailable(res, msg.id, 'the adapter is draining');
    // Before anything is sealed: a refusal costs a map lookup.
    const origin = this.deps.origin(req);
    const refusal = this.deps.limiter.check(origin);
    if (refusal !== undefined) {
      this.deps.metrics.initializeRefused(refusal.reason);
      return this.tooMany(res, msg.id, refusal);
    }
    const identity = this.deps.pool.identity();
    const version = this.deps.pool.readyWorkers()[0]?.protocolVersion;
    if (identity === undefined || version === undefined) return this.initUnavailable(res, msg.id, 'no server process is ready');
    const abilities = abilitiesOf(msg.params?.['capabilities']);
    const slot = this.deps.pool.slotForSession(abilities.sampling || abilities.elicitation || abilities.roots);
    if (slot === undefined) return this.initUnavailable(res, msg.id, 'no server process is ready');
    // The client's version if the process speaks it too, else the process's.
    const negotiated = (LEGACY_VERSIONS as readonly string[]).includes(requested) && requested < version ? requested : version;
    const issued = this.deps.handover.issue(slot, negotiated, msg.params?.['capabilities'], msg.params?.['clientInfo'], origin);
    if (issued.kind === 'invalid') {
      this.deps.metrics.initializeRefused('invalid');
      return this.refuse(res, 'invalid_params', 400, msg.id, RpcCode.InvalidParams, `Invalid params: ${issued.message}`);
    }
    if (issued.kind === 'unavailable') return this.initUnavailable(res, msg.id, issued.detail);
    const session = issued.session;
    const result = {
      protocolVersion: negotiated,
      capabilities: identity.capabilities,
      serverInfo: identity.serverInfo,
      ...(identity.instructions !== undefined ? { instructions: identity.instructions } : {}),
    };
    this.deps.metrics.recordCall('initialize', undefined, 'ok', false, 0);
    this.deps.logger.debug({ slot, version: negotiated, abilities }, 'session created');
    reply(res, 200, JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }), { 'mcp-session-id': session.id });
  }

  private sessionNotification(res: ServerResponse, session: Session, msg: RpcNotification, bodyText: string): void {
    switch (msg.method) {
      case 'notifications/initialized':
        // The process was initialized once, by the adapter; the session is no longer pending (seen()).
        break;
      case 'notifications/cancelled': {
        const requestId = msg.params?.['requestId'];
        const reason = msg.params?.['reason'];
        for (const c of session.calls) {
          if (c.init.clientId !== requestId) continue;
          c.cancel(typeof reason === 'string' ? reason : 'cancelled by the client');
          break;
        }
        break;
      }
      default:
        // e.g. roots/list_changed: the session's own process should hear it.
        this.deps.pool.workerOf(session.slot)?.send(bodyText);
    }
    res.writeHead(202, { 'mcp-session-id': session.id }).end();
  }

  private sessionRequest(res: ServerResponse, session: Session, msg: RpcRequest, body: RequestBody, accept: AcceptView): void {
    // Refused before it reaches a process, retryable: Envoy sends it to
    // another replica, which takes the session over.
    if (this.deps.pool.isDraining) return this.unavailable(res, msg.id, 'the adapter is draining');
    const uri = msg.params?.['uri'];
    let changed = false;
    let answered = false;
    if (msg.method === 'resources/subscribe' && typeof uri === 'string') {
      session.subscribe(uri);
      changed = true;
    }
    if (msg.method === 'resources/unsubscribe' && typeof uri === 'string') {
      session.unsubscribe(uri);
      changed = true;
      // The process holds one subscription for all sessions on it.
      answered = this.deps.keeper.sharedSubscription(session, uri);
    }
    if (msg.method === 'logging/setLevel') {
      const level = msg.params?.['level'];
      if (typeof level === 'string') {
        session.setLogLevel(level);
        changed = true;
      }
    }
    const placement: Placement = PROCESS_STATE_METHODS.has(msg.method)
      ? 'pinned'
      : session.answersServerRequests && !LISTING_METHODS.has(msg.method)
        ? 'exclusive'
        : 'any';
    const go = (): void => {
      if (answered) return reply(res, 200, JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} }), { 'mcp-session-id': session.id });
      this.startCall(res, msg, body, 'legacy', session, placement, undefined, accept);
    };
    if (!changed) return go();
    // Stored before the process hears of it: a replica that takes the session
    // over after this answer has the state.
    void this.deps.handover.save(session).then(() => {
      if (res.destroyed || res.writableEnded) return;
      go();
    });
  }

  // ---- calls ----

  private startCall(
    res: ServerResponse,
    msg: RpcRequest,
    body: RequestBody,
    era: Era,
    session: Session | undefined,
    placement: Placement,
    logLevel: string | undefined,
    accept: AcceptView,
  ): void {
    const exchange = new HttpExchange(
      res,
      accept.sse,
      session?.id,
      this.deps.origin(res.req).client,
      session === undefined ? undefined : this.deps.postStreams,
    );
    const name = msg.method === 'tools/call' ? msg.params?.['name'] : undefined;
    const tool = typeof name === 'string' ? name : undefined;
    const trace = this.deps.tracer === undefined ? undefined : this.traceCall(this.deps.tracer, res, msg, tool, era, session);
    const call = new Call<Session>(
      {
        clientId: msg.id,
        clientIdJson: JSON.stringify(msg.id),
        method: msg.method,
        tool,
        params: msg.params,
        body,
        era,
        session,
        placement,
        logLevel,
        sink: placement === 'solo' ? MrtrBridge.sinkFor(exchange, JSON.stringify(msg.id)) : exchange,
        ...(trace !== undefined ? { trace } : {}),
      },
      this.hooks,
      this.deadlines,
    );
    exchange.onAbort = () => call.cancel('the client closed the connection');
    session?.callStarted(call);
    this.deps.pool.submit(call);
  }

  private traceCall(
    tracer: CallTracer,
    res: ServerResponse,
    msg: RpcRequest,
    tool: string | undefined,
    era: Era,
    session: Session | undefined,
  ): CallSpan | undefined {
    const headers = res.req.headers;
    const meta = msg.params?.['_meta'];
    const attempt = Number(header(res.req, 'x-envoy-attempt-count') ?? 1);
    return tracer.start(headers, isPlainObject(meta) ? meta : undefined, {
      server: this.opts.server,
      method: msg.method,
      tool,
      generation: era === 'modern' ? MODERN_VERSION : (session?.protocolVersion ?? '2025'),
      attempt: Number.isFinite(attempt) ? attempt : 1,
      jsonrpcId: JSON.stringify(msg.id),
      agent: header(res.req, AGENT_IDENTITY_HEADER),
    });
  }

  private settled(call: Call<Session>, outcome: Outcome, retryable: boolean): void {
    this.deps.pool.release(call);
    call.init.session?.callSettled(call);
    if (call.init.placement === 'solo') this.deps.mrtr?.callSettled(call);
    const trace = call.init.trace as CallSpan | undefined;
    trace?.end(outcome, retryable);
    this.deps.metrics.recordCall(
      call.init.method,
      call.init.tool,
      outcome,
      retryable,
      (performance.now() - call.startedAt) / 1000,
      trace?.traceId,
    );
  }

  /** Stops the timeout sweep (shutdown). */
  stop(): void {
    this.deadlines?.stop();
  }

  private initUnavailable(res: ServerResponse, id: JsonRpcId, detail: string): void {
    this.deps.metrics.initializeRefused('unavailable');
    this.unavailable(res, id, detail);
  }

  private unavailable(res: ServerResponse, id: JsonRpcId | null, detail: string): void {
    this.deps.metrics.rejected('unavailable');
    reply(res, 503, errorText(id, RpcCode.ServerError, `Server unavailable: ${detail}`), { [RETRYABLE_HEADER]: 'true' });
  }
}
