// Flag parsing for every subcommand: each flag --some-flag also reads
// MCPMESH_SOME_FLAG from the environment (the flag wins), so that a container
// can be configured by its environment alone.
import { parseArgs } from 'node:util';
import { parseDuration } from '../lib/duration.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  readonly default?: string | boolean;
  /** Repeatable string flag. */
  readonly multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export class UsageError extends Error {}

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  /**
   * The flags given on the command line or in the environment. A value given
   * is an operator's choice even when it equals the default, so it wins over
   * a config file where a default would not.
   */
  readonly explicit: ReadonlySet<string>;
  /** Arguments after `--` (the adapter's server command). */
  readonly rest: string[];
  readonly help: boolean;
}

export function envName(flag: string): string {
  return `MCPMESH_${flag.replace(/-/g, '_').toUpperCase()}`;
}

export function parseFlags(argv: readonly string[], specs: FlagSpecs, env: NodeJS.ProcessEnv = process.env): Parsed {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : [...argv];
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: false, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values: Record<string, string | boolean | string[] | undefined> = {};
  const explicit = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) {
    const given = (parsed.values as Record<string, string | boolean | string[] | undefined>)[name];
    const fromEnv = env[envName(name)];
    if (given !== undefined) values[name] = given;
    else if (fromEnv !== undefined && fromEnv !== '') {
      if (spec.type === 'boolean') values[name] = !/^(0|false|no)$/i.test(fromEnv);
      else values[name] = spec.multiple ? fromEnv.split(',') : fromEnv;
    } else {
      values[name] = spec.default;
      continue;
    }
    explicit.add(name);
  }
  return { values, explicit, rest, help: parsed.values['help'] === true };
}

export function usage(command: string, summary: string, specs: FlagSpecs, tail = ''): string {
  const lines = [`Usage: mcpmesh ${command}${tail}`, '', summary, '', 'Options:'];
  for (const [name, spec] of Object.entries(specs)) {
    const arg = spec.type === 'string' ? ` <value>` : '';
    const def = spec.default !== undefined && spec.default !== false ? ` (default: ${String(spec.default)})` : '';
    lines.push(`${`  --${name}${arg}`.padEnd(30)}${spec.description}${def} [env ${envName(name)}]`);
  }
  lines.push(`${'  --help'.padEnd(30)}Show this help`);
  return `${lines.join('\n')}\n`;
}

export function stringFlag(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function intFlag(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = stringFlag(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be within ${min}..${max}, got ${n}`);
  return n;
}

export function boolFlag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function durationFlag(p: Parsed, name: string): number {
  const v = stringFlag(p, name)!;
  const ms = parseDuration(v);
  if (ms === undefined) throw new UsageError(`--${name} must be a duration such as 250ms, 10s or 5m, got "${v}"`);
  return ms;
}
