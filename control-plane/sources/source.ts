// The contract every catalog source (file, Consul) keeps with the control plane.

import type { SourceState } from '../catalog/model.js';
import type { PolicyInput } from '../catalog/policy-schema.js';

export interface SourceStatus {
  readonly kind: 'file' | 'consul';
  /** At least one complete, valid state has been delivered. */
  readonly synced: boolean;
  /** The source cannot currently reach its backing store; the last good state stays in force. */
  readonly stale: boolean;
  readonly lastError: string | undefined;
  /** ms since epoch of the last delivered state. */
  readonly lastSyncAt: number | undefined;
}

export interface CatalogSource {
  readonly kind: 'file' | 'consul';
  /**
   * Starts watching. `onState` is called with every new valid state (never with
   * a partial or invalid one). Resolves once the first state was delivered, or
   * rejects if the source cannot produce one at all.
   */
  start(onState: (state: SourceState) => void): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
  /** Stores an explicit policy for a server (null deletes it), validated by the caller. */
  writePolicy(server: string, policy: PolicyInput | null): Promise<void>;
}
