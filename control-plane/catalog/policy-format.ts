// Policy (parsed, durations in ms) → the JSON an operator writes (durations as
// strings), for the admin API and for writing a policy back to a source.
import { formatDuration } from '../../lib/duration.js';
import { type Policy, type PolicyInput, PolicySchema } from './policy-schema.js';

const DURATION_KEYS = new Set([
  'timeout',
  'idleTimeout',
  'connectTimeout',
  'perTryTimeout',
  'base',
  'max',
  'interval',
  'baseEjectionTime',
  'maxEjectionTime',
  // loadBalancing.slowStart.window
  'window',
]);

function render(value: unknown, key: string, parentKey: string): unknown {
  if (typeof value === 'number' && DURATION_KEYS.has(key) && !(parentKey === 'tools')) return formatDuration(value);
  if (Array.isArray(value)) return value.map((v) => render(v, '', key));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, k, key)]));
  }
  return value;
}

export function policyToInput(policy: Policy): PolicyInput {
  const input = render(policy, '', '') as PolicyInput;
  // Round-trip guard: what we show must parse back to the same policy.
  PolicySchema.parse(input);
  return input;
}
