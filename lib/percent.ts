// A percent typed by an operator (a flag or an MCPMESH_* variable), read one
// way everywhere: the tracing sampling percent in particular is read by the
// control plane (for Envoy) and by the adapter from the same variable, and must
// mean the same number to both, or be refused by both.

// Plain decimals only: Number() would also take "0x10", "1e2", " " (as 0) and "Infinity".
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/** The percent (0–100, decimals allowed) in `text`; undefined when it is not one. */
export function parsePercent(text: string): number | undefined {
  const t = text.trim();
  if (!DECIMAL.test(t)) return undefined;
  const n = Number(t);
  return n <= 100 ? n : undefined;
}
