// Cost per call of portable session ids: seal() once per initialize, open()
// once per adoption, and the lookup of a session the replica already knows
// (what every other call of the session pays).
//   npx tsc -p tsconfig.json && node dist/bench/adapter/session-id-cost.js
import { randomBytes } from 'node:crypto';
import { type SealInput, SessionIdCodec } from '../../adapter/sessions/session-id-codec.js';
import { KeyRing, SessionKey } from '../../adapter/sessions/session-keys.js';

const RUNS = 50_000;
const WARMUP = 5_000;

function measure(name: string, f: () => unknown): void {
  for (let i = 0; i < WARMUP; i++) f();
  const t = new Float64Array(RUNS);
  for (let i = 0; i < RUNS; i++) {
    const s = process.hrtime.bigint();
    f();
    t[i] = Number(process.hrtime.bigint() - s);
  }
  t.sort();
  const at = (q: number) => (t[Math.min(RUNS - 1, Math.floor(RUNS * q))]! / 1_000).toFixed(2);
  console.log(`${name.padEnd(36)} p50 ${at(0.5)} us  p99 ${at(0.99)} us`);
}

const ring = new KeyRing([new SessionKey('k1', randomBytes(32), 0, undefined)]);
const codec = new SessionIdCodec({ server: 'tools', keys: () => ring });
const input: SealInput = {
  protocolVersion: '2025-11-25',
  clientCapabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
  clientInfo: { name: 'claude-code', version: '2.0.14' },
};
const { id } = codec.seal(input);
const tampered = `${id.slice(0, -3)}${id.at(-3) === 'A' ? 'B' : 'A'}${id.slice(-2)}`;
const huge = `1k1.${'A'.repeat(10_000_000)}`;
console.log(`id length ${id.length}`);
measure('seal()', () => codec.seal(input));
measure('open() valid (adoption)', () => codec.open(id));
measure('open() tampered', () => codec.open(tampered));
measure('open() 10 MB input', () => codec.open(huge));
const known = new Map<string, number>();
const ids: string[] = [];
for (let i = 0; i < 10_000; i++) {
  const x = codec.seal(input).id;
  known.set(x, i);
  ids.push(x);
}
let j = 0;
measure('known session: Map.get of 10k ids', () => known.get(ids[j++ % ids.length]!));
