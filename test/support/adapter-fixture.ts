// The adapter in front of the fixture stdio server (test/fixtures/stdio-server.ts),
// and MCP clients of either protocol generation for it.
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { pino } from 'pino';
import { runAdapter, type AdapterHandle, type AdapterOptions } from '../../adapter/adapter.js';

export const FIXTURE_SERVER = fileURLToPath(new URL('../fixtures/stdio-server.js', import.meta.url));

export type Era = '2025' | '2026';

export const testLogger = pino({ level: process.env['MCPMESH_TEST_LOG'] ?? 'silent' });

export interface FixtureAdapterOptions extends Partial<Omit<AdapterOptions, 'command' | 'args'>> {
  /** Arguments for the fixture server, e.g. ['--mode', 'silent']. */
  readonly fixtureArgs?: readonly string[];
  /** Wait for a ready process (default true). */
  readonly waitReady?: boolean;
}

export async function startFixtureAdapter(opts: FixtureAdapterOptions = {}): Promise<AdapterHandle> {
  const { fixtureArgs = [], waitReady = true, ...rest } = opts;
  const handle = await runAdapter({
    name: 'fixture',
    command: process.execPath,
    args: [FIXTURE_SERVER, ...fixtureArgs],
    logger: testLogger,
    ...rest,
  });
  if (waitReady) await handle.whenReady();
  return handle;
}

export interface ClientOptions {
  readonly capabilities?: Record<string, unknown>;
  readonly name?: string;
}

export async function connectClient(url: string, era: Era, opts: ClientOptions = {}): Promise<Client> {
  const client = new Client(
    { name: opts.name ?? `test-${era}`, version: '1.0.0' },
    { ...(era === '2026' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}), ...(opts.capabilities ? { capabilities: opts.capabilities } : {}) },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** The first text block of a tool result. */
export function firstText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content;
  const block = content?.find((c) => c.type === 'text');
  return block?.text ?? '';
}

/** Whether any process of a group is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
