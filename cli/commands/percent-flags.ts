// Percent flags, read one way by every command: `--tracing-sampling` in
// particular is read by `mcpmesh control-plane`/`up` (Envoy's percent) and by
// `mcpmesh adapter` (its percent for calls that arrive with no trace context),
// both also from MCPMESH_TRACING_SAMPLING, which `up` hands to its adapters.
import { parsePercent } from '../../lib/percent.js';
import { envName, type Parsed, stringFlag, UsageError } from '../flags.js';

/** A percent flag's value (given, or its default), undefined when neither; a bad value is a usage error. */
export function percentFlag(p: Parsed, flag: string): number | undefined {
  const text = stringFlag(p, flag);
  if (text === undefined) return undefined;
  const n = parsePercent(text);
  if (n === undefined) throw new UsageError(`--${flag} (${envName(flag)}) must be a percent from 0 to 100 such as 1 or 0.5, got "${text}"`);
  return n;
}

/** `--tracing-sampling`, whose variable is TRACING_SAMPLING_ENV (lib/mesh-contracts.ts). */
export function tracingSampling(p: Parsed): number | undefined {
  return percentFlag(p, 'tracing-sampling');
}
