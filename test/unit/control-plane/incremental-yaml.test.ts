// The incremental parse must give exactly what js-yaml gives for the whole text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import jsYaml from 'js-yaml';
import { IncrementalYamlParser, splitServers } from '../../../control-plane/sources/incremental-yaml.js';

function whole(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA, filename: 'f.yaml' }) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

function incremental(parser: IncrementalYamlParser, text: string): ReturnType<typeof whole> {
  try {
    return { ok: true, value: parser.parse(text) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

const entry = (name: string, port = 1) => `  - name: ${name}\n    replicas:\n      - http://127.0.0.1:${port}/mcp\n`;

const CASES: Record<string, string> = {
  plain: `servers:\n${entry('a')}${entry('b')}${entry('c')}`,
  'keys before and after': `envoy:\n  listenPort: 10001\nservers:\n${entry('a')}${entry('b')}controlPlane:\n  xdsPort: 18001\n`,
  'entries at column 0':
    'servers:\n- name: a\n  replicas: [http://127.0.0.1:1/mcp]\n- name: b\n  replicas: [http://127.0.0.1:2/mcp]\nenvoy: {}\n',
  comments: `# top\nservers: # the list\n# before the first\n${entry('a')}# column 0 inside\n    # indented\n${entry('b')}\n\n# after\n`,
  'block scalar with blank lines and dashes': `servers:\n  - name: a\n    note: |+\n      first\n\n      - name: not-an-entry\n\n${entry('b')}`,
  'quoted string across lines at the entry indentation': `servers:\n  - name: a\n    note: "one\n  - name: two"\n${entry('b')}`,
  'plain scalar across lines': `servers:\n  - name: a\n    note: one\n      two\n${entry('b')}`,
  'flow collection across lines': `servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp,\n      http://127.0.0.1:2/mcp]\n${entry('b')}`,
  'alias to another entry': 'servers:\n  - &base\n    name: a\n    replicas: [http://127.0.0.1:1/mcp]\n  - *base\n',
  'anchor used inside its own entry': `servers:\n  - name: a\n    replicas: &r [http://127.0.0.1:1/mcp]\n    other: *r\n${entry('b')}`,
  'two servers keys': `servers:\n${entry('a')}servers:\n${entry('b')}`,
  'quoted servers key': `"servers": []\nservers:\n${entry('a')}`,
  'document markers': `---\nservers:\n${entry('a')}...\n`,
  'malformed entry': `servers:\n${entry('a')}  - name: b\n    replicas: [\n${entry('c')}`,
  'malformed elsewhere': `envoy: [\nservers:\n${entry('a')}`,
  'CRLF line ends': `servers:\n${entry('a')}${entry('b')}`.replace(/\n/g, '\r\n'),
  'empty list': 'servers:\n',
  'flow list': 'servers: [{name: a, replicas: [http://127.0.0.1:1/mcp]}]\n',
  'nested sequence deeper': `servers:\n  - name: a\n    stdio:\n      command:\n        - node\n        - x.js\n${entry('b')}`,
  'dash alone': `servers:\n  -\n    name: a\n${entry('b')}`,
  'duplicate keys in an entry': `servers:\n  - name: a\n    name: b\n${entry('c')}`,
  'less indented line inside the list': 'servers:\n    - name: a\n  x: 1\n',
  tabs: 'servers:\n  - name: a\n    note:\tx\n',
  'quoted string ending at column 0': `servers:\n  - name: "a\nb"\n${entry('c')}`,
  'the servers key inside a quoted string': 'envoy: "abc\nservers:\n  - name: x\ndef"\n',
  'empty document': '',
  'not a mapping': '- a\n- b\n',
};

test('each case gives what js-yaml gives for the whole text', () => {
  for (const [name, text] of Object.entries(CASES)) {
    assert.deepEqual(incremental(new IncrementalYamlParser('f.yaml'), text), whole(text), name);
  }
});

test('a parser carried across every pair of cases still gives what js-yaml gives', () => {
  const texts = Object.values(CASES);
  for (const first of texts) {
    for (const second of texts) {
      const parser = new IncrementalYamlParser('f.yaml');
      incremental(parser, first);
      assert.deepEqual(incremental(parser, second), whole(second), `${JSON.stringify(first)} then ${JSON.stringify(second)}`);
    }
  }
});

test('the list splits into its entries only where the block structure is plain', () => {
  assert.equal(splitServers(CASES['plain']!)?.entries.length, 3);
  assert.equal(splitServers(CASES['entries at column 0']!)?.entries.length, 2);
  assert.equal(splitServers(CASES['two servers keys']!), undefined);
  assert.equal(splitServers(CASES['document markers']!), undefined);
  assert.equal(splitServers(CASES['CRLF line ends']!), undefined);
  assert.equal(splitServers(CASES['flow list']!), undefined);
});

test('an unchanged entry keeps its parsed object; a changed one is parsed again', () => {
  const parser = new IncrementalYamlParser('f.yaml');
  const one = parser.parse(`servers:\n${entry('a')}${entry('b')}`) as { servers: unknown[] };
  const two = parser.parse(`servers:\n${entry('a')}${entry('b', 2)}`) as { servers: unknown[] };
  assert.equal(two.servers[0], one.servers[0]);
  assert.notEqual(two.servers[1], one.servers[1]);
});

test('random edits of a random file: always what js-yaml gives', () => {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const scalars = [
    'x',
    '"q: [1]"',
    "'it''s'",
    '|\n      a\n\n      - b\n',
    '>\n      folded\n',
    '[1, 2]',
    '{a: 1}',
    '&k v',
    '*k',
    '"a\n  - name: z"',
    '# c',
    '-1',
    'null',
    '~',
  ];
  const randomEntry = (i: number) => {
    let out = `  - name: s${i}\n`;
    for (let k = 0, n = rand(3); k < n; k++) out += `    f${k}: ${scalars[rand(scalars.length)]}\n`;
    if (rand(4) === 0) out += '# note\n';
    return out;
  };
  const parser = new IncrementalYamlParser('f.yaml');
  const entries = Array.from({ length: 8 }, (_, i) => randomEntry(i));
  for (let round = 0; round < 400; round++) {
    const i = rand(entries.length);
    const op = rand(3);
    if (op === 0) entries[i] = randomEntry(rand(20));
    else if (op === 1 && entries.length > 1) entries.splice(i, 1);
    else entries.splice(i, 0, randomEntry(rand(20)));
    const text = `${rand(2) ? 'envoy: {}\n' : ''}servers:\n${entries.join('')}${rand(2) ? 'controlPlane: {}\n' : ''}`;
    assert.deepEqual(incremental(parser, text), whole(text), `round ${round}:\n${text}`);
  }
});
