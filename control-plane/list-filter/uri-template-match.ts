// Whether a URI is one a resource template (RFC 6570) can expand to: how the
// list filter decides which templates of resources/templates/list a caller
// sees (those that reach at least one URI the caller's rules let it read).
// Each expression becomes the widest pattern its operator can produce, so a
// template is never hidden from a caller who may read one of its URIs. Pure.

/** What one expression's expansion can look like, by its operator. */
function expressionPattern(operator: string): string {
  switch (operator) {
    case '+': // reserved: may carry / ? # and more
    case '#':
      return '.*';
    case '/':
      return '(?:/[^?#]*)*';
    case '.':
      return '(?:\\.[^/?#]*)*';
    case ';':
      return '(?:;[^/?#]*)*';
    case '?':
    case '&':
      return '(?:[?&][^#]*)?';
    default: // simple string expansion: reserved characters are percent-encoded, so no /
      return '[^/?#]*';
  }
}

const escapeLiteral = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The template as a whole-string matcher; undefined when it is not a template (an unclosed brace). */
export function templateMatcher(template: string): RegExp | undefined {
  let source = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      source += escapeLiteral(template.slice(i));
      break;
    }
    const close = template.indexOf('}', open);
    if (close < 0) return undefined;
    source += escapeLiteral(template.slice(i, open));
    const expr = template.slice(open + 1, close);
    source += expressionPattern(/^[+#./;?&]/.test(expr) ? expr[0]! : '');
    i = close + 1;
  }
  return new RegExp(`^${source}$`, 's');
}

/** Whether some URI of `uris` is an expansion of `template`. */
export function templateReachesAny(template: string, uris: ReadonlySet<string>): boolean {
  const re = templateMatcher(template);
  if (re === undefined) return false;
  for (const uri of uris) if (re.test(uri)) return true;
  return false;
}
