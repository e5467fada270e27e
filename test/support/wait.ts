// Polls for a condition the code under test reaches asynchronously (a
// process up, a config ACKed), failing with what was awaited.

export async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, pollMs = 20): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
