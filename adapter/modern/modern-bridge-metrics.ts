// Counters of the 2026-07-28 bridges (multi round-trip requests and
// subscriptions/listen), on the adapter's own registry.
import { Counter, Gauge, type Registry } from 'prom-client';

export type MrtrRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'tampered'
  | 'expired'
  | 'wrong_call'
  | 'replayed'
  | 'abandoned'
  | 'ended'
  | 'unknown_hold'
  | 'misrouted'
  | 'unreachable'
  | 'misdirected'
  | 'incomplete';

export interface ModernBridgeMetrics {
  /** A server request asked in a round: the client got it in input_required. */
  inputRequired(method: string): void;
  /** A retry answered the server's pending requests. */
  answered(): void;
  /** A held call whose client did not come back within the bound, released. */
  abandoned(): void;
  refused(reason: MrtrRefusal): void;
  /** A retry that reached another replica than the holder, sent on to it. */
  forwarded(): void;
  listenOpened(): void;
  listenDelivered(method: string): void;
}

const METHODS = new Set(['elicitation/create', 'sampling/createMessage', 'roots/list']);
const CHANGES = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
  'notifications/resources/updated',
]);

export function createModernBridgeMetrics(
  registry: Registry,
  server: string,
  views: { holds(): number; listeners(): number },
): ModernBridgeMetrics {
  const rounds = new Counter({
    name: 'mcpmesh_adapter_mrtr_rounds_total',
    help: 'Server requests asked of a 2026-07-28 client in an input_required result (each in one round), by method',
    labelNames: ['server', 'method'] as const,
    registers: [registry],
  });
  const answered = new Counter({
    name: 'mcpmesh_adapter_mrtr_answered_total',
    help: "Retries whose inputResponses answered a held call's server requests",
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const abandoned = new Counter({
    name: 'mcpmesh_adapter_mrtr_abandoned_total',
    help: 'Held calls released because the client did not retry within --mrtr-hold-timeout',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'mcpmesh_adapter_mrtr_refused_total',
    help: 'Retries refused (JSON-RPC -32602 or -32603), by reason',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  const forwarded = new Counter({
    name: 'mcpmesh_adapter_mrtr_forwarded_total',
    help: 'Retries sent on to the replica that holds their call',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'mcpmesh_adapter_mrtr_holds',
    help: 'Calls held on a process waiting for their client to retry',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, views.holds());
    },
  });
  const listens = new Counter({
    name: 'mcpmesh_adapter_listen_opened_total',
    help: 'subscriptions/listen streams opened',
    labelNames: ['server'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'mcpmesh_adapter_listen_streams',
    help: 'subscriptions/listen streams open',
    labelNames: ['server'] as const,
    registers: [registry],
    collect() {
      this.set({ server }, views.listeners());
    },
  });
  const delivered = new Counter({
    name: 'mcpmesh_adapter_listen_notifications_total',
    help: 'Change notifications sent on subscriptions/listen streams, by method',
    labelNames: ['server', 'method'] as const,
    registers: [registry],
  });
  return {
    inputRequired: (method) => rounds.inc({ server, method: METHODS.has(method) ? method : '_other' }),
    answered: () => answered.inc({ server }),
    abandoned: () => abandoned.inc({ server }),
    refused: (reason) => refused.inc({ server, reason }),
    forwarded: () => forwarded.inc({ server }),
    listenOpened: () => listens.inc({ server }),
    listenDelivered: (method) => delivered.inc({ server, method: CHANGES.has(method) ? method : '_other' }),
  };
}
