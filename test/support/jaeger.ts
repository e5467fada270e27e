// A real Jaeger v2 (built by scripts/setup.sh jaeger) with in-memory storage,
// receiving OTLP/HTTP and answering its query API on loopback ports of its own.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';

export const JAEGER_BIN = join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh'), 'jaeger-1.76.0', 'jaeger');

export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: readonly { readonly refType: string; readonly traceID: string; readonly spanID: string }[];
  readonly tags: readonly { readonly key: string; readonly value: unknown }[];
  readonly processID: string;
  readonly startTime: number;
  /** Filled in by trace(): the process's service.name. */
  service: string;
}

export interface Jaeger {
  /** OTLP/HTTP base URL (Envoy and adapters post to /v1/traces). */
  readonly otlpUrl: string;
  readonly queryUrl: string;
  /** The collector's process (benches read its CPU time). */
  readonly pid: number;
  /** The trace's spans, [] while Jaeger does not know it. */
  trace(traceId: string): Promise<JaegerSpan[]>;
  stop(): Promise<void>;
}

export async function startJaeger(): Promise<Jaeger> {
  if (!existsSync(JAEGER_BIN)) throw new Error(`Jaeger not found at ${JAEGER_BIN}: run scripts/setup.sh jaeger`);
  const [otlp, queryHttp, queryGrpc] = await freePorts(3);
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-jaeger-'));
  const config = join(dir, 'jaeger.yaml');
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${queryHttp}
    grpc:
      endpoint: 127.0.0.1:${queryGrpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${otlp}
processors:
  batch:
    timeout: 50ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`,
  );
  let log = '';
  const child: ChildProcess = spawn(JAEGER_BIN, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const queryUrl = `http://127.0.0.1:${queryHttp}`;
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`jaeger exited ${child.exitCode}:\n${log}`);
    try {
      const [q, o] = await Promise.all([
        fetch(`${queryUrl}/api/services`),
        fetch(`http://127.0.0.1:${otlp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
      ]);
      await Promise.all([q.body?.cancel(), o.body?.cancel()]);
      if (q.ok && o.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`jaeger not answering after 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    otlpUrl: `http://127.0.0.1:${otlp}`,
    queryUrl,
    pid: child.pid!,
    async trace(traceId) {
      const res = await fetch(`${queryUrl}/api/traces/${traceId}`);
      if (res.status === 404) {
        await res.body?.cancel();
        return [];
      }
      if (!res.ok) throw new Error(`jaeger GET /api/traces/${traceId}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { data?: { spans: JaegerSpan[]; processes: Record<string, { serviceName: string }> }[] };
      const t = body.data?.[0];
      if (t === undefined) return [];
      for (const s of t.spans) s.service = t.processes[s.processID]?.serviceName ?? '';
      return t.spans;
    },
    stop: () =>
      new Promise<void>((done) => {
        const finish = () => {
          rmSync(dir, { recursive: true, force: true });
          done();
        };
        if (child.exitCode !== null || child.signalCode !== null) return finish();
        child.once('exit', finish);
        child.kill('SIGKILL');
      }),
  };
}

/** A span's tag value, or undefined. */
export function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}
