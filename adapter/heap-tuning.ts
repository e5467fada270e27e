// V8 settings for a process that serves many small, short calls: the
// adapter's own process only (the CLI's `mcpmesh adapter`), never a library
// caller's.
//
// V8 pretenures objects from an allocation site (allocates them in the old
// generation) once a scavenge at full new-space size finds most of them alive.
// At the adapter's steady load, a site's objects are alive in that sense only
// because calls are in flight; once tenured, each call's objects die in the
// old generation, and everything young they point to is kept by the
// remembered set and promoted too, until the next full collection. Measured
// (bench/RESULTS.md, "Adapter throughput"): about 30% of what a call allocates
// survived every scavenge instead of 0.5%, scavenge pauses of 8–16 ms, and a
// third of the adapter's CPU per call at 16 clients. Without pretenuring a
// call's garbage dies young.
import v8 from 'node:v8';

/** Node flags that choose pretenuring themselves: an operator's explicit choice wins. */
function chosenByOperator(): boolean {
  const flags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  return flags.some((f) => f.includes('allocation-site-pretenuring') || f.includes('allocation_site_pretenuring'));
}

/** True when the setting was applied. */
export function tuneHeapForServing(): boolean {
  if (chosenByOperator()) return false;
  // A flag V8 reads at each pretenuring decision, so it may be changed after start.
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}
