// One measured run of 2026-07-28 calls of the fixed upstream's `echo` through
// an Envoy, with Envoy's CPU per call (its schedstat, threads included): the
// cell of the benches that price Envoy alone (envoy-unsampled.ts,
// trace-split.ts).
import { type Phase, runHttp } from '../adapter/load.js';
import { treeCpuPreciseMs } from '../process-cpu.js';
import { FIXED_TEXT } from './fixed-upstream.js';

const CALL = { name: 'echo', arguments: { text: 'hello mcpmesh' }, expect: FIXED_TEXT };

export interface EnvoyCpuRun {
  readonly usPerCall: number;
  readonly p50Ms: number;
}

/** Throws when a call failed: a cell with errors prices something else. */
export async function envoyCpuRun(
  label: string,
  url: string,
  envoyPid: number,
  clients: number,
  phase: Phase,
  traceparent: string | undefined,
): Promise<EnvoyCpuRun> {
  let before = 0;
  let cpuMs = 0;
  const r = await runHttp(
    url,
    '2026',
    clients,
    {
      ...phase,
      onMeasureStart: () => (before = treeCpuPreciseMs([envoyPid])),
      onMeasureEnd: () => (cpuMs = treeCpuPreciseMs([envoyPid]) - before),
    },
    CALL,
    traceparent !== undefined ? { extraHeaders: { traceparent } } : {},
  );
  if (r.errors > 0) throw new Error(`${label}: ${r.errors} errors (${r.firstError ?? ''})`);
  return { usPerCall: (cpuMs * 1000) / r.calls, p50Ms: r.p50Ms };
}
