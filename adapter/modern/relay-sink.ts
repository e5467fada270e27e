// Where a multi round-trip call's answer goes: the HTTP exchange of its
// current round. The call on the server process is one call, but each round
// is a new request from the client with a new JSON-RPC id; between rounds
// (the client is asking its user) there is no exchange, and the call waits.
import type { CallSink } from '../pool/call.js';
import type { FailureAnswer } from '../protocol/failure-classes.js';
import { replaceTopLevelId } from '../protocol/jsonrpc-ids.js';

interface Leg {
  readonly exchange: CallSink;
  readonly idJson: string;
}

export class RelaySink implements CallSink {
  private leg: Leg | undefined;
  readonly canStream: boolean;
  readonly client: string;
  readonly retried: boolean;

  constructor(
    first: CallSink,
    /** The id of the first request, which the call writes its answers with. */
    private readonly firstIdJson: string,
  ) {
    this.leg = { exchange: first, idJson: firstIdJson };
    this.canStream = first.canStream;
    this.client = first.client ?? '';
    this.retried = first.retried ?? false;
  }

  /** Between rounds nobody has gone away: the call is waiting for the client's next request. */
  get closed(): boolean {
    return this.leg?.exchange.closed ?? false;
  }

  /** Whether a round's exchange is attached. */
  get attached(): boolean {
    return this.leg !== undefined;
  }

  event(text: string): boolean {
    return this.leg?.exchange.event(text) ?? false;
  }

  finish(text: string | readonly Uint8Array[]): void {
    const leg = this.leg;
    if (leg === undefined) return;
    this.leg = undefined;
    if (leg.idJson === this.firstIdJson) return leg.exchange.finish(text);
    const whole = typeof text === 'string' ? text : Buffer.concat(text).toString('utf8');
    leg.exchange.finish(replaceTopLevelId(whole, this.firstIdJson, leg.idJson) ?? whole);
  }

  fail(answer: FailureAnswer, _idJson: string): void {
    const leg = this.leg;
    if (leg === undefined) return;
    this.leg = undefined;
    leg.exchange.fail(answer, leg.idJson);
  }

  abandon(): void {
    const leg = this.leg;
    this.leg = undefined;
    leg?.exchange.abandon();
  }

  /** Ends this round with `text` (built with the round's id: idJsonOfRound) and detaches. */
  park(build: (idJson: string) => string): void {
    const leg = this.leg;
    if (leg === undefined) return;
    this.leg = undefined;
    leg.exchange.finish(build(leg.idJson));
  }

  /** The next round's exchange. */
  attach(exchange: CallSink, idJson: string): void {
    this.leg = { exchange, idJson };
  }
}
