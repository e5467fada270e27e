// Order and summary of a bench's samples: a seeded shuffle (every run of a
// bench alternates its rows in the same orders, so two runs compare) and the
// nearest-rank percentile.

/** A shuffler whose orders follow from `seed` (a linear congruential generator, Fisher–Yates in place). */
export function seededShuffle(seed: number): <T>(a: T[]) => T[] {
  let s = seed;
  return <T>(a: T[]): T[] => {
    for (let j = a.length - 1; j > 0; j--) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      const k = Math.floor((s / 2 ** 31) * (j + 1));
      [a[j], a[k]] = [a[k]!, a[j]!];
    }
    return a;
  };
}

/** The nearest-rank percentile `p` (0–100) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
