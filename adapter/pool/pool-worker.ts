// The contract between the pool and one server process: what the pool reads
// and asks of a process (McpWorker in production, fakes in unit tests), and
// what a process reports back to the pool.

import type { ServerIdentity } from '../protocol/initialize-result.js';
import type { RpcNotification, RpcRequest } from '../protocol/jsonrpc-message.js';
import type { Call, CallCarrier } from './call.js';

export type WorkerState = 'starting' | 'ready' | 'stopping' | 'dead';

export type DeathReason = 'crash' | 'hang' | 'init_timeout' | 'init_exit' | 'init_error' | 'protocol' | 'stopped';

export interface PoolWorker extends CallCarrier {
  readonly pid: number;
  readonly state: WorkerState;
  readonly identity: ServerIdentity | undefined;
  /** The protocol version the server chose in its initialize result. */
  readonly protocolVersion: string;
  readonly readyAt: number;
  readonly lastBusyAt: number;
  /** Client calls in flight, by process-local id. */
  readonly calls: ReadonlyMap<number, Call>;
  /** Writes a call with a fresh process-local id. */
  dispatch(call: Call): void;
  stop(graceMs: number): Promise<void>;
}

export interface WorkerHost<W> {
  workerReady(worker: W): void;
  /** Reported once, after every call in flight was failed. */
  workerDead(worker: W, reason: DeathReason, detail: string): void;
  serverRequest(worker: W, line: string, msg: RpcRequest): void;
  serverNotification(worker: W, line: string, msg: RpcNotification): void;
}
