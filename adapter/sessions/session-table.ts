// The open 2025-era sessions by id, and the views of them that placement,
// routing and the idle sweep need.
import type { Session } from './session.js';

export class SessionTable {
  private readonly byId = new Map<string, Session>();

  get size(): number {
    return this.byId.size;
  }

  add(session: Session): void {
    this.byId.set(session.id, session);
  }

  /** The session a client request names; the request counts as the client being seen. */
  get(id: string): Session | undefined {
    const s = this.byId.get(id);
    s?.touch();
    return s;
  }

  delete(session: Session): void {
    this.byId.delete(session.id);
  }

  *pinnedTo(slot: number): IterableIterator<Session> {
    for (const s of this.byId.values()) if (s.slot === slot) yield s;
  }

  countPinned(slot: number): { all: number; answering: number } {
    let all = 0;
    let answering = 0;
    for (const s of this.byId.values()) {
      if (s.slot !== slot) continue;
      all++;
      if (s.answersServerRequests) answering++;
    }
    return { all, answering };
  }

  /** Sessions idle (no call, no stream) for longer than `idleMs`. */
  idle(now: number, idleMs: number): Session[] {
    const out: Session[] = [];
    for (const s of this.byId.values()) if (s.calls.size === 0 && !s.streaming && now - s.lastSeen > idleMs) out.push(s);
    return out;
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }
}
