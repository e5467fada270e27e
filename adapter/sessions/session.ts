// A 2025-era session (Mcp-Session-Id). The adapter, not the server process,
// owns it: every pooled process was initialized once by the adapter, and a
// session is pinned to one pool slot for what needs process state — server
// requests to the client, resource subscriptions, the logging level.
//
// Its id is sealed by the session id codec (session-id-codec.ts), so that
// any replica of the server can carry the session on: `portable` is what the
// id says, and the logging level and subscriptions here follow the session
// through the shared state store (session-handover.ts).
import type { Call } from '../pool/call.js';
import { isPlainObject } from '../protocol/jsonrpc-message.js';
import type { PortableSession } from './session-id-codec.js';

/** What the session's client said it can answer when the server asks. */
export interface ClientAbilities {
  readonly sampling: boolean;
  readonly elicitation: boolean;
  readonly roots: boolean;
}

/** The session's standalone GET stream (server-sent events) as the session uses it. */
export interface ClientStream {
  readonly closed: boolean;
  send(text: string): boolean;
  end(): void;
  onClose(handler: () => void): void;
}

const ABILITY_OF: Readonly<Record<string, keyof ClientAbilities>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export class Session {
  private seenAt = Date.now();
  private getStream: ClientStream | undefined;
  private replay: ClientStream | undefined;
  private readonly open = new Set<Call<Session>>();
  private level: string | undefined;
  private readonly uris = new Set<string>();
  private ended = false;

  constructor(
    /** The Mcp-Session-Id, as the codec sealed it. */
    readonly id: string,
    readonly slot: number,
    readonly protocolVersion: string,
    readonly abilities: ClientAbilities,
    /** What the id carries (undefined only in unit tests of the session alone). */
    readonly portable?: PortableSession,
  ) {}

  /** When the client last sent something or closed its stream (Date.now() time). */
  get lastSeen(): number {
    return this.seenAt;
  }

  /**
   * Where server messages for the standalone GET stream go: its replay
   * window when the session has one (kept while no stream is open, and sent
   * when one is), else the stream while open.
   */
  get stream(): ClientStream | undefined {
    return this.replay ?? this.getStream;
  }

  /** Gives the GET stream a replay window (http/event-replay.ts). */
  useReplay(replay: ClientStream): void {
    this.replay = replay;
  }

  /** The replay window, if the session has one. */
  get replayWindow(): ClientStream | undefined {
    return this.replay;
  }

  /** Whether a GET stream is open, so that another is refused. */
  get streaming(): boolean {
    return this.getStream !== undefined && !this.getStream.closed;
  }

  /** Calls of this session not yet answered, oldest first. */
  get calls(): ReadonlySet<Call<Session>> {
    return this.open;
  }

  /** The logging level the client asked its process for. */
  get logLevel(): string | undefined {
    return this.level;
  }

  /** Resource URIs the client subscribed to. */
  get subscriptions(): ReadonlySet<string> {
    return this.uris;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Whether the server may need to reach this client in the middle of a call. */
  get answersServerRequests(): boolean {
    return this.abilities.sampling || this.abilities.elicitation || this.abilities.roots;
  }

  /** Whether this client declared the capability a server request needs. */
  accepts(method: string): boolean {
    const ability = ABILITY_OF[method];
    return ability !== undefined && this.abilities[ability];
  }

  touch(): void {
    this.seenAt = Date.now();
  }

  /** The client opened its GET stream; it counts as seen when the stream closes. */
  attachStream(stream: ClientStream): void {
    this.getStream = stream;
    stream.onClose(() => {
      if (this.getStream === stream) this.getStream = undefined;
      this.touch();
    });
  }

  callStarted(call: Call<Session>): void {
    this.open.add(call);
  }

  callSettled(call: Call<Session>): void {
    this.open.delete(call);
  }

  subscribe(uri: string): void {
    this.uris.add(uri);
  }

  unsubscribe(uri: string): void {
    this.uris.delete(uri);
  }

  setLogLevel(level: string): void {
    this.level = level;
  }

  /** Marks the session ended and closes its GET stream. */
  end(): void {
    this.ended = true;
    this.getStream?.end();
  }
}

/** Reads the capabilities of an initialize request. */
export function abilitiesOf(capabilities: unknown): ClientAbilities {
  const c = isPlainObject(capabilities) ? capabilities : {};
  const present = (k: string) => typeof c[k] === 'object' && c[k] !== null;
  return { sampling: present('sampling'), elicitation: present('elicitation'), roots: present('roots') };
}
