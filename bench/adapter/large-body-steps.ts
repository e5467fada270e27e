// The adapter's own steps on the hostile-input bench's accepted 4 MiB bodies,
// each alone in one process, this build beside a baseline build (another
// checkout's dist/, loaded into the same process, so both meet the same
// machine at the same moment): decoding the body, the depth check's walk,
// making what is written to the process's stdin (the splices, and the UTF-8
// encoding Node does for a string), and the byte check of the server's echo
// answer. CPU time per step, the median of 11 after 3 warm-ups; V8's
// JSON.parse of the body beside them for scale. Steps the baseline does not
// have show its equivalent: Buffer#toString for the decode. The decode is
// timed with the first read of its text (a string made of pieces is joined
// then), as the depth walk would meet it.
//   npx tsc -p tsconfig.json && node dist/bench/adapter/large-body-steps.js [--baseline /path/to/other/checkout]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_JSON_CONTAINERS } from '../../adapter/http/streamable-http-server.js';
import { scanJsonBytes, scanRequest } from '../../adapter/protocol/json-scan.js';
import { requestBody, spliceRequest } from '../../adapter/protocol/request-body.js';
import { utf8Text } from '../../adapter/protocol/utf8-text.js';
import { medianCpuMs } from '../process-cpu.js';

const { values } = parseArgs({ options: { baseline: { type: 'string' } } });
const MIB = 1024 * 1024;
const MAX_DEPTH = 128;
const MAX_CONTAINERS = DEFAULT_MAX_JSON_CONTAINERS;
/** A _meta member padded so that 4 MiB of them stay under the container bound (about 89,000). */
const BOUND_MEMBER = `"k":{"progressToken":1,"p":"${'x'.repeat(16)}"}`;
const META = '"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}';

function repeat(unit: string, size: number): string {
  return Array.from({ length: Math.max(1, Math.floor(size / (unit.length + 1))) }, () => unit).join(',');
}

/** A body, whether it has a progress token, and the text the fixture's echo tool answers with. */
const SHAPES: ReadonlyArray<{ name: string; body: string; token: boolean; echoed: string }> = [
  {
    name: 'escaped quotes in one string',
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'\\"'.repeat(2 * MIB)}"},"_meta":{${META}}}}`,
    token: false,
    echoed: '"'.repeat(2 * MIB),
  },
  {
    name: 'non-ASCII text in one string (é)',
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'é'.repeat(2 * MIB)}"},"_meta":{${META}}}}`,
    token: false,
    echoed: 'é'.repeat(2 * MIB),
  },
  {
    name: 'non-Latin-1 text in one string (ж)',
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'ж'.repeat(2 * MIB)}"},"_meta":{${META}}}}`,
    token: false,
    echoed: 'ж'.repeat(2 * MIB),
  },
  {
    name: 'progress token after 4 MiB of _meta members (as many as the container bound accepts)',
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{${repeat(BOUND_MEMBER, 4 * MIB)},"progressToken":"p",${META}}}}`,
    token: true,
    echoed: 'x',
  },
];

/** What the fixture's echo tool writes back (its text twice: content and structuredContent). */
function echoAnswer(t: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      result: { content: [{ type: 'text', text: `echo: ${t}` }], structuredContent: { echoed: t, length: t.length } },
      jsonrpc: '2.0',
      id: 1,
    }),
  );
}

interface Steps {
  decode(bytes: Buffer): string;
  /** The depth check, and the stdin bytes made from its walk. */
  check(text: string): unknown;
  toStdin(text: string, bytes: Buffer, scan: unknown, token: boolean): unknown;
  answer(bytes: Buffer): unknown;
}

const thisBuild: Steps = {
  decode: utf8Text,
  check: (text) => scanRequest(text, MAX_DEPTH, MAX_CONTAINERS),
  toStdin: (text, bytes, scan, token) => {
    const out = spliceRequest(requestBody(text, (scan as ReturnType<typeof scanRequest>).spans, bytes), '7', token ? '7' : undefined);
    // A string is encoded on its way to the pipe; byte pieces go as they are.
    return typeof out === 'string' ? Buffer.from(`${out}\n`) : out;
  },
  answer: scanJsonBytes,
};

async function baselineSteps(dir: string): Promise<Steps> {
  const at = (p: string) => pathToFileURL(resolve(dir, 'dist', p)).href;
  const scan = (await import(at('adapter/protocol/json-scan.js'))) as {
    nestsDeeperThan(t: string, max: number, containers: number): boolean;
    scanJsonBytes(b: Uint8Array): unknown;
  };
  const ids = (await import(at('adapter/protocol/jsonrpc-ids.js'))) as {
    replaceTopLevelId(t: string, o: string, n: string): string | undefined;
    replaceIdAndProgressToken?(t: string, i: string, p: string): string | undefined;
    oneLine(t: string): string;
  };
  // A baseline without the converter decodes with Buffer#toString.
  const text = (await import(at('adapter/protocol/utf8-text.js')).catch(() => undefined)) as
    | { utf8Text(b: Uint8Array): string }
    | undefined;
  // A baseline with its own RequestBody walks and splices as this build does.
  const body = (await import(at('adapter/protocol/request-body.js')).catch(() => undefined)) as
    | { requestBody: typeof requestBody; spliceRequest: typeof spliceRequest }
    | undefined;
  const scanOf = (scan as { scanRequest?: typeof scanRequest }).scanRequest;
  if (body !== undefined && scanOf !== undefined) {
    return {
      decode: (bytes) => (text !== undefined ? text.utf8Text(bytes) : bytes.toString('utf8')),
      check: (t) => scanOf(t, MAX_DEPTH, MAX_CONTAINERS),
      toStdin: (t, bytes, walk, token) => {
        const out = body.spliceRequest(
          body.requestBody(t, (walk as ReturnType<typeof scanRequest>).spans, bytes),
          '7',
          token ? '7' : undefined,
        );
        return typeof out === 'string' ? Buffer.from(`${out}\n`) : out;
      },
      answer: scan.scanJsonBytes,
    };
  }
  return {
    decode: (bytes) => (text !== undefined ? text.utf8Text(bytes) : bytes.toString('utf8')),
    check: (text) => scan.nestsDeeperThan(text, MAX_DEPTH, MAX_CONTAINERS),
    toStdin: (text, _bytes, _scan, token) => {
      const line = ids.oneLine(text);
      const out = token ? ids.replaceIdAndProgressToken?.(line, '7', '7') : ids.replaceTopLevelId(line, '1', '7');
      return Buffer.from(`${out}\n`);
    },
    answer: scan.scanJsonBytes,
  };
}

const builds: Array<readonly [string, Steps]> = [['this build', thisBuild]];
if (values.baseline !== undefined) builds.unshift(['baseline', await baselineSteps(values.baseline)]);
const lines = [
  '| body (4 MiB) | build | decode ms | depth walk ms | to stdin ms | echo answer check ms | sum ms | JSON.parse ms |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const shape of SHAPES) {
  const bytes = Buffer.from(shape.body);
  const answer = echoAnswer(shape.echoed);
  const parse = medianCpuMs(() => JSON.parse(shape.body));
  for (const [label, steps] of builds) {
    // A fresh text per build, so no step meets a string another build's steps read.
    const text = Buffer.from(shape.body).toString('utf8');
    const decode = medianCpuMs(() => steps.decode(bytes).charCodeAt(0));
    // The walk and the stdin step together, in the order the adapter runs them (the baseline's splice uses its walk's cache).
    const both = medianCpuMs(() => steps.toStdin(text, bytes, steps.check(text), shape.token));
    const walk = medianCpuMs(() => steps.check(text));
    const stdin = Math.max(0, both - walk);
    const check = medianCpuMs(() => steps.answer(answer));
    const sum = decode + walk + stdin + check;
    lines.push(
      `| ${shape.name} | ${label} | ${decode.toFixed(1)} | ${walk.toFixed(1)} | ${stdin.toFixed(1)} | ${check.toFixed(1)} | ${sum.toFixed(1)} | ${parse.toFixed(1)} |`,
    );
    process.stderr.write(`${lines[lines.length - 1]}\n`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
