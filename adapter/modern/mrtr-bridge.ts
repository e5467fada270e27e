// Elicitation and sampling for 2026-07-28 clients of a 2025-era stdio server,
// the multi round-trip way (MRTR). The server's tool asks its one client (the
// adapter) over stdio and waits; the adapter holds that call on its process,
// answers the client's request with `resultType: "input_required"`, the
// server's request and a sealed `requestState`, and when the client retries
// with `inputResponses` answers the server's pending request, so that the
// tool's result (or its next question) flows back on the retry.
//
// The call stays on the process that holds it; the state names that replica
// (mrtr-state-codec.ts), and a retry that Envoy sent elsewhere is forwarded to
// it (mrtr-forward.ts). A hold is single use, and released after a bound.
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.js';
import { RETRYABLE_HEADER } from '../../lib/mesh-contracts.js';
import type { Call, CallSink } from '../pool/call.js';
import type { McpWorker } from '../pool/mcp-worker.js';
import { errorText, isPlainObject, RpcCode, type RpcRequest } from '../protocol/jsonrpc-message.js';
import { CLIENT_CAPABILITIES_META_KEY } from '../protocol/modern-envelope.js';
import type { ModernBridgeMetrics, MrtrRefusal } from './modern-bridge-metrics.js';
import { FORWARDED_HEADER, forwardRetry } from './mrtr-forward.js';
import { callBinding, MrtrStateCodec } from './mrtr-state-codec.js';
import { RelaySink } from './relay-sink.js';

/** Methods whose 2026-07-28 results may be input_required. */
export const MRTR_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

const ABILITY_OF: Readonly<Record<string, string>> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/** Outcomes of spent holds remembered, so that a late retry is told why. */
const SPENT_MEMORY = 4_096;

export interface MrtrOptions {
  /** A held call whose client does not retry within this long is released. */
  readonly holdTimeoutMs: number;
  /** Calls held at once on this replica; a server request beyond is refused as before (−32601). */
  readonly maxHolds: number;
  /** Connecting to the holder of a forwarded retry. */
  readonly forwardConnectTimeoutMs: number;
  /**
   * Whether a retry for another replica's call is forwarded there (plain
   * HTTP), or sent back to Envoy to try another replica (421, retryable).
   */
  readonly forward: boolean;
}

export interface MrtrDeps {
  readonly codec: MrtrStateCodec;
  /** This adapter process (random per run). */
  readonly replicaId: string;
  /** This replica's own endpoint URL, where other replicas forward retries. */
  readonly selfUrl: () => string;
  readonly metrics: ModernBridgeMetrics;
  readonly logger: Logger;
}

interface Asked {
  readonly key: string;
  readonly serverIdJson: string;
  readonly method: string;
  readonly params: unknown;
}

/** One call of a 2026-07-28 client held on its process across rounds. */
interface Held {
  readonly call: Call;
  readonly sink: RelaySink;
  readonly worker: McpWorker;
  readonly binding: string;
  /** This round's hold id, while the call waits for the client. */
  holdId: string | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Asked in this round, waiting for the client's answers. */
  asked: Asked[];
  /** Asked by the server while a round was out: the next round's. */
  queued: Asked[];
  next: number;
}

/** The capabilities a 2026-07-28 request declares in its _meta. */
function declaredAbilities(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const meta = params?.['_meta'];
  const caps = isPlainObject(meta) ? meta[CLIENT_CAPABILITIES_META_KEY] : undefined;
  return isPlainObject(caps) ? caps : {};
}

export class MrtrBridge {
  private readonly byCall = new Map<Call, Held>();
  private readonly byHold = new Map<string, Held>();
  private readonly spent = new Map<string, MrtrRefusal>();
  /** Connections to the other replicas, for forwarded retries. */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 8 });

  constructor(
    private readonly opts: MrtrOptions,
    private readonly deps: MrtrDeps,
  ) {}

  get holds(): number {
    return this.byHold.size;
  }

  /** Whether a 2026-07-28 request may be asked something: it then runs alone on its process (Placement `solo`). */
  static answersServerRequests(method: string, params: Record<string, unknown> | undefined): boolean {
    if (!MRTR_METHODS.has(method)) return false;
    const caps = declaredAbilities(params);
    return 'elicitation' in caps || 'sampling' in caps || 'roots' in caps;
  }

  /** The sink a solo call writes to. */
  static sinkFor(exchange: CallSink, idJson: string): RelaySink {
    return new RelaySink(exchange, idJson);
  }

  /**
   * The server asked the client of the solo call running on `worker`
   * something. False when this bridge cannot take it (the client did not
   * declare the ability, the call is not alone there, or too many calls are
   * held): the router refuses it to the server as before.
   */
  serverAsked(call: Call, worker: McpWorker, serverIdJson: string, msg: RpcRequest): boolean {
    const sink = call.init.sink;
    if (!(sink instanceof RelaySink) || call.settled || worker.calls.size !== 1 || call.worker !== worker) return false;
    const ability = ABILITY_OF[msg.method];
    if (ability === undefined || !(ability in declaredAbilities(call.init.params))) return false;
    let held = this.byCall.get(call);
    if (held === undefined) {
      if (this.byCall.size >= this.opts.maxHolds) return false;
      held = {
        call,
        sink,
        worker,
        binding: callBinding(call.init.method, call.init.params),
        holdId: undefined,
        timer: undefined,
        asked: [],
        queued: [],
        next: 1,
      };
      this.byCall.set(call, held);
    }
    const asked: Asked = { key: `input-${held.next++}`, serverIdJson, method: msg.method, params: msg.params ?? {} };
    held.queued.push(asked);
    // A round is out (or its retry not attached yet): this one goes in the next.
    if (held.holdId !== undefined || !sink.attached) return true;
    return this.startRound(held);
  }

  /** Sends the queued server requests to the client: the round's exchange ends with input_required. */
  private startRound(held: Held): true {
    const holdId = MrtrStateCodec.newHoldId();
    const state = this.deps.codec.seal({
      holdId,
      replicaId: this.deps.replicaId,
      holderUrl: this.deps.selfUrl(),
      binding: held.binding,
      expiresAt: Date.now() + this.opts.holdTimeoutMs,
    });
    if (state === undefined) {
      // The server's requests get an error, so that none of them waits for an answer that cannot come.
      this.deps.logger.warn('no session key may sign now: a multi round-trip request cannot be bridged');
      for (const a of held.queued)
        held.worker.send(
          errorText(
            JSON.parse(a.serverIdJson) as number | string,
            RpcCode.InternalError,
            `mcpmesh adapter: cannot ask the client ${a.method} (no session key may sign a requestState now)`,
          ),
        );
      this.forget(held);
      return true;
    }
    held.asked = held.queued;
    held.queued = [];
    held.holdId = holdId;
    this.byHold.set(holdId, held);
    held.timer = setTimeout(() => this.abandon(held, holdId), this.opts.holdTimeoutMs);
    held.timer.unref();
    const inputRequests: Record<string, unknown> = {};
    for (const a of held.asked) {
      inputRequests[a.key] = { method: a.method, params: a.params };
      this.deps.metrics.inputRequired(a.method);
    }
    const result = JSON.stringify({ resultType: 'input_required', inputRequests, requestState: state });
    held.sink.park((idJson) => `{"jsonrpc":"2.0","id":${idJson},"result":${result}}`);
    return true;
  }

  /** The client did not come back: the server's requests get an error, and the call is cancelled (its slot freed). */
  private abandon(held: Held, holdId: string): void {
    if (held.holdId !== holdId) return;
    this.deps.metrics.abandoned();
    this.remember(holdId, 'abandoned');
    for (const a of [...held.asked, ...held.queued])
      held.worker.send(
        errorText(
          JSON.parse(a.serverIdJson) as number | string,
          RpcCode.InternalError,
          `mcpmesh adapter: the client did not answer ${a.method} within ${this.opts.holdTimeoutMs} ms`,
        ),
      );
    this.forget(held);
    held.call.cancel(`the client did not retry within ${this.opts.holdTimeoutMs} ms`);
  }

  /** A call ended (answered, failed, cancelled): its hold goes. */
  callSettled(call: Call): void {
    const held = this.byCall.get(call);
    if (held === undefined) return;
    if (held.holdId !== undefined) this.remember(held.holdId, 'ended');
    this.forget(held);
  }

  private forget(held: Held): void {
    if (held.timer !== undefined) clearTimeout(held.timer);
    held.timer = undefined;
    if (held.holdId !== undefined) this.byHold.delete(held.holdId);
    held.holdId = undefined;
    this.byCall.delete(held.call);
  }

  private remember(holdId: string, why: MrtrRefusal): void {
    this.spent.set(holdId, why);
    if (this.spent.size > SPENT_MEMORY) this.spent.delete(this.spent.keys().next().value!);
  }

  /**
   * A 2026-07-28 request carrying `requestState` or `inputResponses`: a
   * retry of a call held here, forwarded to its holder, or refused with a
   * JSON-RPC error saying why. `openLeg` makes the round's HTTP exchange;
   * `onAbort` is for when its client goes away.
   */
  retry(req: IncomingMessage, res: ServerResponse, msg: RpcRequest, bodyText: string, openLeg: (onAbort: () => void) => CallSink): void {
    const params = msg.params ?? {};
    const text = params['requestState'];
    if (text === undefined)
      return this.refuse(
        res,
        msg,
        'incomplete',
        'Invalid params: inputResponses without requestState: this server asked nothing it could resume',
      );
    const opened = this.deps.codec.open(text);
    if (!opened.ok) {
      const why =
        opened.reason === 'expired'
          ? `Invalid params: requestState expired (older than ${this.opts.holdTimeoutMs} ms): the call was released; start it again`
          : 'Invalid params: requestState does not verify: it was not issued by this server, or was altered';
      return this.refuse(res, msg, opened.reason, why);
    }
    const state = opened.state;
    if (callBinding(msg.method, params) !== state.binding)
      return this.refuse(
        res,
        msg,
        'wrong_call',
        'Invalid params: requestState belongs to another request (method, name or arguments differ)',
      );
    if (state.replicaId !== this.deps.replicaId) {
      if (req.headers[FORWARDED_HEADER] !== undefined)
        return this.refuse(
          res,
          msg,
          'misrouted',
          'Internal error: requestState names a replica that is not here any more',
          RpcCode.InternalError,
        );
      if (!this.opts.forward) return this.misdirected(res, msg);
      this.deps.metrics.forwarded();
      forwardRetry(req, res, {
        url: state.holderUrl,
        bodyText,
        fromReplica: this.deps.replicaId,
        agent: this.agent,
        connectTimeoutMs: this.opts.forwardConnectTimeoutMs,
        unreachable: (detail) => {
          this.deps.logger.info({ detail }, 'the replica holding a multi round-trip call is unreachable');
          this.refuse(
            res,
            msg,
            'unreachable',
            'Internal error: the replica that held this call is gone (it stopped or died); the call did not complete: start it again',
            RpcCode.InternalError,
          );
        },
      });
      return;
    }
    const held = this.byHold.get(state.holdId);
    if (held === undefined) {
      const why = this.spent.get(state.holdId) ?? 'unknown_hold';
      const message: Record<string, string> = {
        replayed: 'Invalid params: requestState was used already: each one answers one round, once',
        abandoned: `Internal error: the call was released: no retry came within ${this.opts.holdTimeoutMs} ms; start it again`,
        ended: 'Internal error: the call ended while it waited for this retry (its process failed or it was cancelled)',
        unknown_hold: 'Internal error: requestState names no call held here (this replica restarted); start it again',
      };
      return this.refuse(
        res,
        msg,
        why,
        message[why] ?? message['unknown_hold']!,
        why === 'replayed' ? RpcCode.InvalidParams : RpcCode.InternalError,
      );
    }
    const responses = params['inputResponses'];
    const missing = held.asked.filter((a) => !isPlainObject(isPlainObject(responses) ? responses[a.key] : undefined)).map((a) => a.key);
    if (missing.length > 0)
      return this.refuse(res, msg, 'incomplete', `Invalid params: inputResponses lacks an answer (an object) for: ${missing.join(', ')}`);
    // Spent from here on: a second retry with the same state is a replay.
    const asked = held.asked;
    this.byHold.delete(state.holdId);
    this.remember(state.holdId, 'replayed');
    if (held.timer !== undefined) clearTimeout(held.timer);
    held.timer = undefined;
    held.holdId = undefined;
    held.asked = [];
    held.sink.attach(
      openLeg(() => held.call.cancel('the client closed the connection')),
      JSON.stringify(msg.id),
    );
    this.deps.metrics.answered();
    for (const a of asked) {
      const answer = (responses as Record<string, unknown>)[a.key];
      held.worker.send(`{"jsonrpc":"2.0","id":${a.serverIdJson},"result":${JSON.stringify(answer)}}`);
    }
    if (held.queued.length > 0) this.startRound(held);
  }

  private refuse(res: ServerResponse, msg: RpcRequest, reason: MrtrRefusal, message: string, code: number = RpcCode.InvalidParams): void {
    this.deps.metrics.refused(reason);
    if (res.headersSent || res.destroyed) return;
    // In-band, as the SDK answers handler errors: 200, never retried by Envoy, not counted against the replica.
    const body = errorText(msg.id, code, message, { reason });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /**
   * Not the holder, and not forwarding (an mTLS replica): 421 marked
   * retryable, which the routes retry on another replica (previous_hosts) and
   * outlier detection does not count; once Envoy's retries are spent the
   * client gets it as it is.
   */
  private misdirected(res: ServerResponse, msg: RpcRequest): void {
    this.deps.metrics.refused('misdirected');
    if (res.headersSent || res.destroyed) return;
    const body = errorText(
      msg.id,
      RpcCode.InternalError,
      'Misdirected: another replica holds this call, and this one cannot forward the retry to it (TLS); retry on another replica',
      { reason: 'misdirected' },
    );
    res.writeHead(421, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [RETRYABLE_HEADER]: 'true' });
    res.end(body);
  }

  /** Shutdown: held calls are released like abandoned ones. */
  stop(): void {
    this.agent.destroy();
    for (const held of [...this.byCall.values()]) {
      const holdId = held.holdId;
      if (holdId !== undefined) this.abandon(held, holdId);
      else this.forget(held);
    }
  }
}
