// Server-Sent Events on a node:http response, as the Streamable HTTP
// transport uses them: one `message` event per JSON-RPC message.
import type { ServerResponse } from 'node:http';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/**
 * One event. The text is one JSON line; a stray CR in it (whitespace, since
 * JSON strings escape theirs) would end the SSE field early, so it goes.
 */
export function sseEvent(text: string, id?: string): string {
  const data = text.indexOf('\r') < 0 ? text : text.replace(/\r/g, ' ');
  return id === undefined ? `event: message\ndata: ${data}\n\n` : `id: ${id}\nevent: message\ndata: ${data}\n\n`;
}

/** A long-lived stream (the 2025-era GET stream), kept alive through proxies' idle timeouts. */
export class SseStream {
  private closedFlag = false;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly closeHandlers: Array<() => void> = [];

  constructor(
    private readonly res: ServerResponse,
    headers: Readonly<Record<string, string>>,
    keepAliveMs: number,
  ) {
    res.writeHead(200, { ...SSE_HEADERS, ...headers });
    res.flushHeaders();
    this.keepAlive = setInterval(() => {
      if (!this.closedFlag) res.write(': keep-alive\n\n');
    }, keepAliveMs);
    this.keepAlive.unref();
    res.once('close', () => this.markClosed());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  send(text: string, id?: string): boolean {
    if (this.closedFlag) return false;
    this.res.write(sseEvent(text, id));
    return true;
  }

  /** The reconnection delay for the client, and (with an id) a cursor before any message: an event without data. */
  prime(retryMs: number, id: string | undefined): void {
    if (this.closedFlag) return;
    this.res.write(id === undefined ? `retry: ${retryMs}\n\n` : `id: ${id}\nretry: ${retryMs}\ndata: \n\n`);
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  end(): void {
    if (this.closedFlag) return;
    this.res.end();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearInterval(this.keepAlive);
    for (const h of this.closeHandlers.splice(0)) h();
  }
}
