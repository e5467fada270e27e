// Whether a URI is one a resource template (RFC 6570) can expand to: how the
// list filter decides which templates of resources/templates/list a caller
// sees (those that reach at least one URI the caller's rules let it read).
// Each expression becomes the widest run of characters its operator can
// produce, so a template is never hidden from a caller who may read one of its
// URIs. Templates come from the upstream server's answer: the match is a walk
// over the URI's positions, one pass per part of the template (O(parts × URI
// length)), not a regular expression, whose backtracking over many adjacent
// expressions grows as a power of the URI's length. Pure.

/** A literal part of the template, or one expression's expansion: an optional lead character, then a run. */
type Part = { readonly literal: string } | { readonly lead: ((c: string) => boolean) | undefined; readonly run: (c: string) => boolean };

const any = () => true;
const notIn = (chars: string) => (c: string) => !chars.includes(c);
const oneOf = (chars: string) => (c: string) => chars.includes(c);

/** What one expression's expansion can look like, by its operator (a repeated `/x`, `.x` or `;x` is one lead and a run: the run admits the lead). */
function expressionPart(operator: string): Part {
  switch (operator) {
    case '+': // reserved: may carry / ? # and more
    case '#':
      return { lead: undefined, run: any };
    case '/':
      return { lead: oneOf('/'), run: notIn('?#') };
    case '.':
      return { lead: oneOf('.'), run: notIn('/?#') };
    case ';':
      return { lead: oneOf(';'), run: notIn('/?#') };
    case '?':
    case '&':
      return { lead: oneOf('?&'), run: notIn('#') };
    default: // simple string expansion: reserved characters are percent-encoded, so no /
      return { lead: undefined, run: notIn('/?#') };
  }
}

export interface UriMatcher {
  /** Whether the whole of `uri` is an expansion of the template. */
  test(uri: string): boolean;
}

/** The template as a whole-string matcher; undefined when it is not a template (an unclosed brace). */
export function templateMatcher(template: string): UriMatcher | undefined {
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      parts.push({ literal: template.slice(i) });
      break;
    }
    const close = template.indexOf('}', open);
    if (close < 0) return undefined;
    if (open > i) parts.push({ literal: template.slice(i, open) });
    const expr = template.slice(open + 1, close);
    parts.push(expressionPart(/^[+#./;?&]/.test(expr) ? expr[0]! : ''));
    i = close + 1;
  }
  return { test: (uri) => matches(parts, uri) };
}

/** The positions of `uri` each part can end at, from those the previous one could. */
function matches(parts: readonly Part[], uri: string): boolean {
  const n = uri.length;
  let at = new Uint8Array(n + 1);
  at[0] = 1;
  for (const part of parts) {
    const next = new Uint8Array(n + 1);
    if ('literal' in part) {
      const len = part.literal.length;
      for (let p = 0; p + len <= n; p++) if (at[p] === 1 && uri.startsWith(part.literal, p)) next[p + len] = 1;
    } else {
      // Empty, or the lead (if any) and then any number of run characters.
      let inRun = false;
      for (let p = 0; p <= n; p++) {
        if (p > 0) inRun = inRun && part.run(uri[p - 1]!);
        if (part.lead !== undefined) {
          if (p > 0 && at[p - 1] === 1 && part.lead(uri[p - 1]!)) inRun = true;
        } else if (at[p] === 1) inRun = true;
        if (at[p] === 1 || inRun) next[p] = 1;
      }
    }
    at = next;
  }
  return at[n] === 1;
}

/** Whether some URI of `uris` is an expansion of `template`. */
export function templateReachesAny(template: string, uris: ReadonlySet<string>): boolean {
  const m = templateMatcher(template);
  if (m === undefined) return false;
  for (const uri of uris) if (m.test(uri)) return true;
  return false;
}
