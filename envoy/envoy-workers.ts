// How many worker threads `mcpmesh up` gives the Envoy it starts when no flag
// says: `up` shares the host with its adapters and servers, and on two cores
// one worker costs Envoy less CPU per call than two (bench/RESULTS.md, "The
// Envoy hop, piece by piece"): each wake-up of the one worker serves more of the
// requests in flight, and the adapters keep the other core.

/** Envoy's --concurrency for `up` on a host with `cores` CPUs. */
export function upEnvoyWorkers(cores: number): number {
  return cores <= 2 ? 1 : 2;
}
