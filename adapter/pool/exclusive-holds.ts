// Which session holds each slot's process for its exclusive calls (see
// Placement), counted so that the hold ends with the last of them. While a
// session holds a process, the server's requests to a client there can only
// be for that session's client.
import type { PinnedSession } from './call.js';

interface Hold<S> {
  session: S | undefined;
  calls: number;
}

export class ExclusiveHolds<S extends PinnedSession> {
  private readonly holds: Hold<S>[];

  constructor(slots: number) {
    this.holds = Array.from({ length: slots }, () => ({ session: undefined, calls: 0 }));
  }

  holder(slot: number): S | undefined {
    return this.holds[slot]?.session;
  }

  /** An exclusive call of `session` was written to the slot's process. */
  take(slot: number, session: S): void {
    const hold = this.holds[slot];
    if (hold === undefined) return;
    hold.session = session;
    hold.calls++;
  }

  /** An exclusive call of `session` there ended. */
  release(slot: number, session: S): void {
    const hold = this.holds[slot];
    if (hold === undefined || hold.session !== session) return;
    hold.calls--;
    if (hold.calls <= 0) this.clear(slot);
  }

  /** The slot's process is gone, and whatever it held with it. */
  clear(slot: number): void {
    const hold = this.holds[slot];
    if (hold === undefined) return;
    hold.session = undefined;
    hold.calls = 0;
  }
}
