// Which tools may safely run twice, learned from the server's own tools/list
// annotations (readOnlyHint, idempotentHint) — the same source the control
// plane uses for its per-tool retry policies, so both agree on what a retry
// may repeat. Unknown tools are not replay-safe.
import type { Logger } from '../lib/log.js';
import { type ParamHeader, scanParamHeaders } from '../lib/mcp-param-headers.js';
import type { McpWorker } from './pool/mcp-worker.js';
import { isPlainObject } from './protocol/jsonrpc-message.js';

const MAX_PAGES = 50;

/** What the catalog needs of a process. */
export type ToolSource = Pick<McpWorker, 'state' | 'identity' | 'request'>;

export class ToolCatalog {
  private safe = new Map<string, boolean>();
  /** Each tool's `x-mcp-header` declarations (the headers a 2026-07-28 call of it must carry). */
  private params = new Map<string, readonly ParamHeader[]>();
  private loading: Promise<void> | undefined;
  private stale = true;

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  replaySafe(tool: string | undefined): boolean {
    return tool !== undefined && this.safe.get(tool) === true;
  }

  /** The Mcp-Param-* headers a call of this tool is checked against (none for an unknown tool). */
  paramHeaders(tool: string): readonly ParamHeader[] {
    return this.params.get(tool) ?? [];
  }

  get size(): number {
    return this.safe.size;
  }

  /** Loads the list from this process if it is not known yet or changed. */
  refreshFrom(worker: ToolSource): void {
    if (!this.stale || this.loading !== undefined) return;
    // Servers may say their tools changed before initialize completes; the
    // list is read once the process is ready.
    if (worker.state !== 'ready' || worker.identity === undefined) return;
    if (!isPlainObject(worker.identity.capabilities['tools'])) {
      this.stale = false;
      return;
    }
    this.stale = false;
    this.loading = this.load(worker)
      .catch((err: unknown) => {
        this.stale = true;
        this.logger.warn({ err: (err as Error).message }, 'could not read tool annotations; tools count as not replay-safe');
      })
      .finally(() => {
        this.loading = undefined;
      });
  }

  /** The server said its tools changed. */
  invalidate(worker: ToolSource): void {
    this.stale = true;
    if (this.loading === undefined) this.refreshFrom(worker);
    else void this.loading.then(() => this.refreshFrom(worker));
  }

  /** Resolves when a load in progress is done (tests, startup). */
  async settled(): Promise<void> {
    await this.loading;
  }

  private async load(worker: ToolSource): Promise<void> {
    const next = new Map<string, boolean>();
    const params = new Map<string, readonly ParamHeader[]>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await worker.request('tools/list', cursor === undefined ? undefined : { cursor }, this.timeoutMs);
      if (res.error !== undefined) throw new Error(`tools/list failed: ${res.error.message}`);
      const result = res.result;
      if (!isPlainObject(result) || !Array.isArray(result['tools'])) throw new Error('tools/list result has no tools array');
      for (const tool of result['tools']) {
        if (!isPlainObject(tool) || typeof tool['name'] !== 'string') continue;
        const a = tool['annotations'];
        next.set(tool['name'], isPlainObject(a) && (a['readOnlyHint'] === true || a['idempotentHint'] === true));
        const scan = scanParamHeaders(tool['inputSchema']);
        if (scan.kind === 'ok' && scan.headers.length > 0) params.set(tool['name'], scan.headers);
        else if (scan.kind === 'invalid')
          this.logger.warn(
            { tool: tool['name'], reason: scan.reason },
            'invalid x-mcp-header declaration; its Mcp-Param headers are not checked',
          );
      }
      const nc = result['nextCursor'];
      if (typeof nc !== 'string' || nc === '') break;
      cursor = nc;
    }
    this.safe = next;
    this.params = params;
    this.logger.debug({ tools: next.size }, 'tool annotations loaded');
  }
}
