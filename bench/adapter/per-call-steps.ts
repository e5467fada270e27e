// The adapter's per-call steps one at a time, in this process, against the
// same steps of another build (--baseline DIR, built): before and after in
// one run, the two alternating in blocks so that both see the same machine.
// A step's time alone is what the end-to-end benches cannot resolve on a
// shared 2-core host (a few µs in a call of 50–80 µs).
//
// Steps:
//   origin/proxy   the client and source of a request Envoy sent (trusted loopback peer, X-Forwarded-For)
//   origin/direct  the same for a request from an untrusted peer (the adapter alone)
//   fingerprint    the query-of-death fingerprint every answered call takes (the bench's echo call)
//   fingerprint/1k the same for a call with 1 KiB of arguments
//   answered       fingerprint and the answered-request memory, over 64 different requests
//
// Run: npx tsc -p . && node dist/bench/adapter/per-call-steps.js [--baseline DIR] [--rounds 5] [--iterations 200000]

import type { IncomingMessage } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    iterations: { type: 'string', default: '200000' },
  },
});
const rounds = Math.max(1, Number(values.rounds));
const iterations = Math.max(1000, Number(values.iterations));

interface OriginModule {
  clientOrigin(req: IncomingMessage, opts: { proxies: unknown; identity?: (req: IncomingMessage) => string | undefined }): unknown;
  proxiedAgentIdentity(proxies: unknown): (req: IncomingMessage) => string | undefined;
}
interface ProxiesModule {
  trustedProxies(entries: readonly string[]): unknown;
}
interface FingerprintModule {
  requestFingerprint(method: string, paramsText: string): string;
  QueryOfDeathRegistry: new () => { recordAnswered(fingerprint: string): void };
}

type Step = () => unknown;

async function stepsOf(tree: string): Promise<Map<string, Step>> {
  const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(tree, 'dist', rel)).href)) as T;
  const origin = await load<OriginModule>('adapter/http/client-origin.js');
  const proxies = await load<ProxiesModule>('adapter/http/trusted-proxies.js');
  const qod = await load<FingerprintModule>('adapter/pool/query-of-death.js');
  const loopback = proxies.trustedProxies(['127.0.0.1', '::1']);
  const none = proxies.trustedProxies([]);
  const proxied = { proxies: loopback, identity: origin.proxiedAgentIdentity(loopback) };
  const direct = { proxies: none, identity: origin.proxiedAgentIdentity(none) };
  // One connection, its requests one after the other (a socket object per connection, as node gives).
  const envoySocket = { remoteAddress: '127.0.0.1' };
  const agentSocket = { remoteAddress: '127.0.0.1' };
  const envoyReq = {
    socket: envoySocket,
    headers: { 'x-forwarded-for': '192.0.2.2', 'x-request-id': 'f595a3b0-2f11-42c8-87b3-b5b2c1c2ed60', 'x-envoy-attempt-count': '1' },
  } as unknown as IncomingMessage;
  const agentReq = { socket: agentSocket, headers: {} } as unknown as IncomingMessage;
  const params = '{"name":"echo","arguments":{"message":"hello mcpmesh"}}';
  const registry = new qod.QueryOfDeathRegistry();
  const many = Array.from({ length: 64 }, (_, i) => `{"name":"echo","arguments":{"message":"hello ${i}"}}`);
  let next = 0;
  const large = `{"name":"echo","arguments":{"message":"${'x'.repeat(1024)}"}}`;
  return new Map<string, Step>([
    ['origin/proxy', () => origin.clientOrigin(envoyReq, proxied)],
    ['origin/direct', () => origin.clientOrigin(agentReq, direct)],
    ['fingerprint', () => qod.requestFingerprint('tools/call', params)],
    ['fingerprint/1k', () => qod.requestFingerprint('tools/call', large)],
    ['answered', () => registry.recordAnswered(qod.requestFingerprint('tools/call', many[next++ & 63]!))],
  ]);
}

function timeStep(step: Step): number {
  let sink: unknown;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) sink = step();
  const us = ((performance.now() - t0) * 1000) / iterations;
  if (sink === Symbol.for('never')) process.stdout.write('');
  return us;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const builds: Array<{ label: string; steps: Map<string, Step> }> = [];
if (values.baseline !== undefined) builds.push({ label: 'baseline', steps: await stepsOf(resolve(values.baseline)) });
builds.push({ label: 'this build', steps: await stepsOf(root) });
const load0 = loadavg()[0]!;
const times = new Map<string, number[]>();
// A first pass that is thrown away: every step compiled before it is timed.
for (const b of builds) for (const s of b.steps.values()) timeStep(s);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? builds : [...builds].reverse();
  for (const b of order)
    for (const [name, s] of b.steps) {
      const k = `${name}|${b.label}`;
      times.set(k, [...(times.get(k) ?? []), timeStep(s)]);
    }
}
const lines = [
  `Command: \`node dist/bench/adapter/per-call-steps.js ${process.argv.slice(2).join(' ')}\``,
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end; ${iterations} iterations per timing, ${rounds} rounds alternating; µs per step, median (min–max).`,
  '',
  `| step | ${builds.map((b) => b.label).join(' | ')} |`,
  `| --- | ${builds.map(() => '---:').join(' | ')} |`,
];
for (const name of builds[0]!.steps.keys()) {
  const cells = builds.map((b) => {
    const xs = times.get(`${name}|${b.label}`)!;
    return `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
  });
  lines.push(`| ${name} | ${cells.join(' | ')} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
