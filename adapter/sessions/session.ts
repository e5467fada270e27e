// 2025-era sessions (Mcp-Session-Id). The adapter, not the server process,
// owns them: every pooled process was initialized once by the adapter, and a
// session is pinned to one pool slot for what needs process state — server
// requests to the client, resource subscriptions, the logging level.
import { randomUUID } from 'node:crypto';
import type { Call } from '../pool/call.js';
import type { SseStream } from '../http/sse-stream.js';

/** What the session's client said it can answer when the server asks. */
export interface ClientAbilities {
  readonly sampling: boolean;
  readonly elicitation: boolean;
  readonly roots: boolean;
}

const ABILITY_OF: Readonly<Record<string, keyof ClientAbilities>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export class Session {
  readonly id = randomUUID();
  lastSeen = Date.now();
  /** The standalone GET stream, while open. */
  stream: SseStream | undefined;
  /** Calls of this session not yet answered. */
  readonly calls = new Set<Call>();
  logLevel: string | undefined;
  readonly subscriptions = new Set<string>();
  closed = false;

  constructor(
    readonly slot: number,
    readonly protocolVersion: string,
    readonly abilities: ClientAbilities,
  ) {}

  /** Whether the server may need to reach this client in the middle of a call. */
  get answersServerRequests(): boolean {
    return this.abilities.sampling || this.abilities.elicitation || this.abilities.roots;
  }

  /** Whether this client declared the capability a server request needs. */
  accepts(method: string): boolean {
    const ability = ABILITY_OF[method];
    return ability !== undefined && this.abilities[ability];
  }
}

export class SessionTable {
  private readonly byId = new Map<string, Session>();

  get size(): number {
    return this.byId.size;
  }

  add(session: Session): void {
    this.byId.set(session.id, session);
  }

  get(id: string): Session | undefined {
    const s = this.byId.get(id);
    if (s !== undefined) s.lastSeen = Date.now();
    return s;
  }

  delete(session: Session): void {
    session.closed = true;
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
    for (const s of this.byId.values()) if (s.calls.size === 0 && s.stream === undefined && now - s.lastSeen > idleMs) out.push(s);
    return out;
  }

  all(): IterableIterator<Session> {
    return this.byId.values();
  }
}

/** Reads the capabilities of an initialize request. */
export function abilitiesOf(capabilities: unknown): ClientAbilities {
  const c = typeof capabilities === 'object' && capabilities !== null ? (capabilities as Record<string, unknown>) : {};
  const present = (k: string) => typeof c[k] === 'object' && c[k] !== null;
  return { sampling: present('sampling'), elicitation: present('elicitation'), roots: present('roots') };
}
