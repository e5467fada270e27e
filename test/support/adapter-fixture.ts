// The adapter in front of the fixture stdio server (test/fixtures/stdio-server.ts),
// and MCP clients of either protocol generation for it.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { pino } from 'pino';
import { type AdapterHandle, type AdapterOptions, runAdapter } from '../../adapter/adapter.js';
import { until } from './wait.js';

export const FIXTURE_SERVER = fileURLToPath(new URL('../fixtures/stdio-server.js', import.meta.url));
export const RUN_ADAPTER = fileURLToPath(new URL('../fixtures/run-adapter.js', import.meta.url));

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
  /** Sent with every request (a bearer token through a mesh that requires one). */
  readonly headers?: Record<string, string>;
}

export async function connectClient(url: string, era: Era, opts: ClientOptions = {}): Promise<Client> {
  const client = new Client(
    { name: opts.name ?? `test-${era}`, version: '1.0.0' },
    {
      ...(era === '2026' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
      ...(opts.capabilities ? { capabilities: opts.capabilities } : {}),
    },
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), opts.headers === undefined ? undefined : { requestInit: { headers: opts.headers } }),
  );
  return client;
}

/** Ends a client's 2025-era session (DELETE) and closes it; close() alone leaves the session open. */
export async function endSession(client: Client): Promise<void> {
  const transport = client.transport;
  if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) await transport.terminateSession();
  await client.close();
}

/** The first text block of a tool result. */
export function firstText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content;
  const block = content?.find((c) => c.type === 'text');
  return block?.text ?? '';
}

/**
 * Whether any process of a process group is alive. Reads /proc (Linux): an
 * orphan that died is a zombie until init reaps it, and kill(-pgid, 0) still
 * counts zombies.
 */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

export interface AdapterProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

/**
 * `mcpmesh adapter` as its own process in front of the fixture server,
 * resolved once every process of its pool is ready.
 */
export async function startAdapterProcess(
  name: string,
  pool: number,
  args: readonly string[] = [],
  fixtureArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<AdapterProcess> {
  const child = spawn(
    process.execPath,
    [RUN_ADAPTER, '--name', name, '--port', '0', '--pool', String(pool), ...args, '--', process.execPath, FIXTURE_SERVER, ...fixtureArgs],
    {
      env: { ...process.env, MCPMESH_LOG_LEVEL: process.env['MCPMESH_TEST_LOG'] ?? 'warn', ...env },
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const fail = (e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}; exit ${String(child.exitCode)}; stderr: ${err}`);
  };
  await until(() => /listening on (\S+)/.test(out), 'the adapter listening', 15_000).catch(fail);
  const url = /listening on (\S+)/.exec(out)![1]!;
  const ready = `mcpmesh_adapter_pool_processes{server="${name}",state="ready"} ${pool}`;
  await until(
    async () => (await (await fetch(url.replace(/\/mcp$/, '/metrics'))).text()).includes(ready),
    'every process ready',
    15_000,
  ).catch(fail);
  return { child, url, exited, stderr: () => err };
}
