// The request path's own text steps on the hostile-input bench's worst
// accepted 4 MiB bodies (and a plain one), each alone in one process: the depth check before parsing,
// then the id and progress-token splice on the same text (the order the
// adapter runs them in), and V8's JSON.parse beside them for scale. CPU time
// per step, the median of 11 after 3 warm-ups (so the figures are of
// compiled code; the end-to-end bench includes the first calls too).
//   npx tsc -p tsconfig.json && node dist/bench/adapter/request-scan.js
import { DEFAULT_MAX_JSON_CONTAINERS } from '../../adapter/http/streamable-http-server.js';
import { nestsDeeperThan, scanRequest } from '../../adapter/protocol/json-scan.js';
import { requestBody, spliceRequest } from '../../adapter/protocol/request-body.js';
import { medianCpuMs } from '../process-cpu.js';

const MIB = 1024 * 1024;
/** The adapter's bounds (http/streamable-http-server.ts). */
const MAX_DEPTH = 128;
const MAX_CONTAINERS = DEFAULT_MAX_JSON_CONTAINERS;
/** A _meta member padded so that 4 MiB of them stay under the container bound (about 89,000). */
const BOUND_MEMBER = `"k":{"progressToken":1,"p":"${'x'.repeat(16)}"}`;
const META = '"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}';

function repeat(unit: string, size: number): string {
  return Array.from({ length: Math.max(1, Math.floor(size / (unit.length + 1))) }, () => unit).join(',');
}

const SHAPES: ReadonlyArray<readonly [string, string]> = [
  [
    'progress token after 4 MiB of _meta members (as many as the container bound accepts)',
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{${repeat(BOUND_MEMBER, 4 * MIB)},"progressToken":"p",${META}}}}`,
  ],
  [
    'escaped quotes in one string (with a progress token)',
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'\\"'.repeat(2 * MIB)}"},"_meta":{"progressToken":"p",${META}}}}`,
  ],
  [
    'one plain 4 MiB string (with a progress token)',
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'x'.repeat(4 * MIB)}"},"_meta":{"progressToken":"p",${META}}}}`,
  ],
];

const lines = ['| body (4 MiB) | depth check ms | then the splice ms | both ms | JSON.parse ms |', '| --- | ---: | ---: | ---: | ---: |'];
for (const [name, text] of SHAPES) {
  // A copy per step, so no step meets the very string an earlier one read.
  const fresh = () => Buffer.from(text).toString('utf8');
  const a = fresh();
  const depth = medianCpuMs(() => nestsDeeperThan(a, MAX_DEPTH, MAX_CONTAINERS));
  const b = fresh();
  const both = medianCpuMs(() => {
    const scan = scanRequest(b, MAX_DEPTH, MAX_CONTAINERS);
    spliceRequest(requestBody(b, scan.spans), '42', '42');
  });
  const c = fresh();
  const parse = medianCpuMs(() => JSON.parse(c));
  lines.push(`| ${name} | ${depth.toFixed(1)} | ${Math.max(0, both - depth).toFixed(1)} | ${both.toFixed(1)} | ${parse.toFixed(1)} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
