// Parses successive versions of mcpmesh.yaml, re-parsing only the entries of the
// top-level `servers:` list whose text changed. At 1000 servers js-yaml spends
// ~9 ms on the whole file, most of a file change's time in the control plane;
// an edit to one server re-parses one entry. (js-yaml itself is ten times
// faster than the `yaml` package on such a file, 3 ms against 36 ms; `yaml` is
// still used where comments must survive: writing a policy back.)
//
// The result is always what js-yaml gives for the whole text: the list is split
// only where YAML's block structure makes the split exact (see splitServers),
// and anything else (a parse error included) goes through the whole-file parse.
import jsYaml from 'js-yaml';

export interface ServersSplit {
  /** The file with the list replaced by `servers: []`. */
  readonly skeleton: string;
  /** Each entry's lines, indentation kept: a one-entry block sequence on its own. */
  readonly entries: readonly string[];
}

const SERVERS_KEY = /^servers:[ \t]*(#.*)?$/;

/**
 * Splits the block-style `servers:` list into its entries, or says it cannot.
 * An entry starts with `- ` at the list's indentation; every line up to the
 * next such line is more indented, blank or a comment. In block YAML no scalar,
 * flow collection or nested node can continue on a line at that indentation
 * that starts with `- ` (it would end them), so each piece is one entry.
 * A piece that is not self-contained (an alias to another entry's anchor) fails
 * to parse on its own, and the caller falls back to the whole file.
 */
export function splitServers(text: string): ServersSplit | undefined {
  const lines = text.split('\n');
  // Directives and document markers: several documents, or none of this holds.
  if (lines.some((l) => l.startsWith('---') || l.startsWith('...') || l.startsWith('%'))) return undefined;
  const keyLines = lines.flatMap((l, i) => (SERVERS_KEY.test(l) ? [i] : []));
  if (keyLines.length !== 1) return undefined;
  const start = keyLines[0]!;
  let indent = -1;
  /** Line index where each entry starts. */
  const starts: number[] = [];
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trimStart();
    // Blank and comment lines belong to the entry they are in (a block scalar keeps blank lines).
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (line.includes('\t')) return undefined;
    const at = line.length - trimmed.length;
    if (indent < 0) indent = at;
    if (at === indent && trimmed.startsWith('- ')) starts.push(i);
    else if (at > indent && starts.length > 0) continue;
    else if (at === 0) {
      end = i;
      break;
    } else return undefined;
  }
  if (starts.length === 0) return undefined;
  // Entries are exact slices of the text, line ends included: `|+` keeps them.
  const offsets = [0];
  for (const line of lines) offsets.push(offsets.at(-1)! + line.length + 1);
  const at = (line: number) => Math.min(offsets[line]!, text.length);
  const entries = starts.map((first, k) => text.slice(at(first), at(starts[k + 1] ?? end)));
  const skeleton = `${text.slice(0, at(start))}servers: []\n${text.slice(at(end))}`;
  return { skeleton, entries };
}

const OPTIONS = { schema: jsYaml.CORE_SCHEMA } as const;

export class IncrementalYamlParser {
  /** Entry text → its parse, from the last read that could be split (a parse depends on the text alone). */
  private entries = new Map<string, unknown>();

  constructor(private readonly filename: string) {}

  /** What `jsYaml.load(text)` gives (the same value, or the same error). */
  parse(text: string): unknown {
    const split = splitServers(text);
    const fast = split && this.parseSplit(split);
    if (fast) return fast.value;
    return jsYaml.load(text, { ...OPTIONS, filename: this.filename });
  }

  private parseSplit(split: ServersSplit): { value: unknown } | undefined {
    let skeleton: unknown;
    try {
      skeleton = jsYaml.load(split.skeleton, OPTIONS);
    } catch {
      return undefined;
    }
    if (typeof skeleton !== 'object' || skeleton === null || Array.isArray(skeleton)) return undefined;
    const list = (skeleton as { servers?: unknown }).servers;
    if (!Array.isArray(list) || list.length !== 0) return undefined;
    const next = new Map<string, unknown>();
    for (const text of split.entries) {
      if (next.has(text)) continue;
      if (this.entries.has(text)) {
        next.set(text, this.entries.get(text));
        continue;
      }
      let one: unknown;
      try {
        one = jsYaml.load(text, OPTIONS);
      } catch {
        return undefined;
      }
      if (!Array.isArray(one) || one.length !== 1) return undefined;
      next.set(text, one[0]);
    }
    const servers = split.entries.map((text) => next.get(text));
    this.entries = next;
    return { value: { ...skeleton, servers } };
  }
}
