// What the auth benches send and start: one 2026-07-28 `tools/call` of the
// fixture server's `echo` with the MCP headers, the per-tool rules an operator
// writes, and `mcpmesh adapter` in a process of its own.

import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { FIXTURE_SERVER, RUN_ADAPTER } from '../../test/support/adapter-fixture.js';
import { modernHeaders } from '../../test/support/modern-call.js';
import { until } from '../../test/support/wait.js';

/** The body and headers of one echo call, named by the bench that sends it. */
export function echoCall(clientName: string): { readonly body: string; readonly headers: Readonly<Record<string, string>> } {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: clientName, version: '1' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text: 'x' }, _meta: meta },
  });
  return {
    body,
    headers: {
      ...modernHeaders('tools/call', 'echo'),
      'content-length': String(Buffer.byteLength(body)),
    },
  };
}

/** Per-tool rules as an operator writes them: who may call which tools (several rules, the last matches). */
export const RULES = {
  provider: 'corp',
  rules: [
    { name: 'admins', when: { claims: { groups: ['admin'] } }, tools: ['*'] },
    { name: 'writers', when: { scopes: ['tools.write'] }, tools: ['increment', 'write'] },
    { name: 'readers', when: { scopes: ['tools.read'] }, tools: ['echo', 'whoami'] },
  ],
};

/** Every adapter started here; a run that fails must not leave one behind. */
const children: ChildProcess[] = [];
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** `mcpmesh adapter` (pool 1) in front of the fixture server, in its own process; resolves once it listens. */
export async function adapterProcess(
  name: string,
  args: readonly string[],
  logLevel = 'warn',
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [RUN_ADAPTER, '--name', name, '--port', '0', '--pool', '1', ...args, '--', process.execPath, FIXTURE_SERVER],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MCPMESH_LOG_LEVEL: logLevel } },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => /listening on (\S+)/.test(out), `adapter ${name} listening`, 15_000);
  return { child, url: /listening on (\S+)/.exec(out)![1]! };
}

/** One POST of `body` on `agent`'s kept-alive connections: its time in ms, or an error unless 200. */
export function timedPost(url: string, agent: http.Agent, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? ok(performance.now() - t0) : fail(new Error(`${url}: status ${String(res.statusCode)}`)),
      );
    });
    req.on('error', fail);
    req.end(body);
  });
}
