// Property-based fuzzing of the adapter's two text paths, against JSON.parse
// as the reference:
//   request path: strict checks → depth bound → id and progress-token splice
//   server-line path: line splitter → byte scan / parse → id restore (both
//   the parsed path and the large-line path from bytes, which must agree).
// `npm test` runs a few hundred cases per property (a few seconds);
// `npm run fuzz` runs FUZZ_RUNS (default there 20000) with a fresh seed.
// A failure prints its seed and counterexample: add it below as a regression.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Call, type CallSink, type Era } from '../../../adapter/pool/call.js';
import { LineSplitter } from '../../../adapter/pool/line-splitter.js';
import type { FailureAnswer } from '../../../adapter/protocol/failure-classes.js';
import { findMember, nestsDeeperThan, scanJsonBytes, scanRequest, valueStart } from '../../../adapter/protocol/json-scan.js';
import { replaceTopLevelId } from '../../../adapter/protocol/jsonrpc-ids.js';
import { type RpcResponse, readMessage, strictProblem } from '../../../adapter/protocol/jsonrpc-message.js';
import { type RequestBody, requestBody, requestBodyOf, spliceRequest } from '../../../adapter/protocol/request-body.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000);
const opts = { numRuns: RUNS, ...(process.env['FUZZ_SEED'] !== undefined ? { seed: Number(process.env['FUZZ_SEED']) } : {}) };

const id = fc.oneof(fc.integer({ min: -1e9, max: 1e9 }), fc.string({ maxLength: 8 }));
const key = fc.oneof(
  fc.constantFrom('id', 'jsonrpc', 'result', 'params', '_meta', 'progressToken', 'i\u0064', '"', '\\'),
  fc.string({ maxLength: 6 }),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 10 }),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
})).value;
const obj = fc.dictionary(key, json, { maxKeys: 5 });
/** JSON text of a value in one of the layouts writers use (compact, spaced, pretty). */
const layout = fc.constantFrom(0, 1, 2);
function write(value: unknown, style: number): string {
  if (style === 0) return JSON.stringify(value);
  if (style === 1) return JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ');
  return JSON.stringify(value, null, 2).replace(/\n/g, ' ');
}

/** Nesting depth as the adapter counts it (the top-level container is 1). */
function depth(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depth));
  return 0;
}

test('request path: the id and progress-token splices change exactly those members, in any layout, as text or as bytes', () => {
  fc.assert(
    fc.property(
      id,
      fc.string({ maxLength: 6 }),
      obj,
      // Any code point: the byte path converts the spans' UTF-16 offsets to UTF-8 ones.
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.string({ unit: 'binary', maxLength: 3 }))),
      fc.constantFrom(0, 1, 2, 3),
      (clientId, method, args, wide, token, style) => {
        const meta = token === null ? {} : { progressToken: token };
        const msg = { jsonrpc: '2.0', method: method || 'm', params: { arguments: { ...args, wide }, _meta: meta }, id: clientId };
        // Style 3: pretty-printed with CR LF, as the body reaches the adapter; the process gets one line.
        const text = style === 3 ? JSON.stringify(msg, null, 2).replace(/\n/g, '\r\n') : write(msg, style);
        const value = JSON.parse(text) as typeof msg;
        assert.equal(strictProblem(value), undefined);
        assert.equal(readMessage(value).kind, 'request');
        const expected = { ...value, id: 42, params: { ...value.params, _meta: token === null ? {} : { progressToken: 77 } } };
        if (token === null) assert.deepEqual(JSON.parse(replaceTopLevelId(text, JSON.stringify(clientId), '42')!), expected);
        const asText = requestBody(text, scanRequest(text).spans);
        const asBytes: RequestBody = { ...asText, bytes: Buffer.from(asText.text) };
        for (const body of [asText, asBytes]) {
          const out = spliceRequest(body, '42', token === null ? undefined : '77');
          assert.ok(out !== undefined);
          const line = typeof out === 'string' ? out : Buffer.concat(out).toString('utf8');
          assert.ok(!/[\r\n]/.test(line));
          assert.deepEqual(JSON.parse(line), expected);
        }
      },
    ),
    opts,
  );
});

test('request path: strict checks refuse every member JSON-RPC does not define, and nothing else', () => {
  fc.assert(
    fc.property(obj, (extra) => {
      const msg = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {}, ...extra };
      const bad = Object.keys(msg).some((k) => !['jsonrpc', 'id', 'method', 'params'].includes(k));
      const problem = strictProblem(JSON.parse(JSON.stringify(msg)));
      if (bad) assert.match(problem ?? '', /unknown member/);
      else if (problem !== undefined) assert.doesNotMatch(problem, /unknown member/);
    }),
    opts,
  );
});

test('depth bound and member lookup agree with JSON.parse on any JSON', () => {
  fc.assert(
    fc.property(json, obj, layout, fc.integer({ min: 1, max: 6 }), (v, o, style, max) => {
      const text = write(v, style);
      assert.equal(nestsDeeperThan(text, max), depth(v) > max);
      const otext = write(o, style);
      const parsed = JSON.parse(otext) as Record<string, unknown>;
      for (const k of Object.keys(parsed)) {
        const m = findMember(otext, valueStart(otext), k);
        assert.ok(m !== undefined, k);
        assert.deepEqual(JSON.parse(otext.slice(m.start, m.end)), parsed[k]);
      }
      assert.equal(findMember(otext, valueStart(otext), '\u0000absent'), undefined);
    }),
    opts,
  );
});

test('byte scan: accepts exactly the texts JSON.parse reads as an object, and finds its members', () => {
  const mutate = fc
    .tuple(obj, layout, fc.nat(), fc.constantFrom('', '{', '}', '"', ',', ':', '\\', 'x', '1', '-', 'e', '\u0001', ' ', ']'))
    .map(([o, style, at, ch]) => {
      const t = write(o, style);
      const i = at % (t.length + 1);
      return t.slice(0, i) + ch + t.slice(i + (at % 2));
    });
  fc.assert(
    fc.property(
      fc.oneof(
        mutate,
        json.map((v) => JSON.stringify(v)),
      ),
      (text) => {
        let parsed: unknown;
        let ok = true;
        try {
          parsed = JSON.parse(text);
        } catch {
          ok = false;
        }
        const isObject = ok && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
        const bytes = Buffer.from(text);
        const scan = scanJsonBytes(bytes);
        assert.equal(scan !== undefined, isObject, text);
        if (scan === undefined) return;
        const record = parsed as Record<string, unknown>;
        assert.deepEqual(new Set(scan.top.keys()), new Set(Object.keys(record)));
        for (const [k, [s, e]] of scan.top) assert.deepEqual(JSON.parse(bytes.toString('utf8', s, e)), record[k]);
      },
    ),
    opts,
  );
});

interface Captured {
  text: string | undefined;
}

function fakeCall(era: Era, method: string, clientId: number | string, captured: Captured): Call {
  const sink: CallSink = {
    canStream: false,
    closed: false,
    event: () => false,
    finish: (t) => {
      captured.text = typeof t === 'string' ? t : Buffer.concat(t as Uint8Array[]).toString('utf8');
    },
    fail: (_a: FailureAnswer) => assert.fail('no failure expected'),
    abandon: () => assert.fail('no abandon expected'),
  };
  const body = requestBodyOf(JSON.stringify({ jsonrpc: '2.0', id: clientId, method, params: {} }));
  const call = new Call(
    {
      clientId,
      clientIdJson: JSON.stringify(clientId),
      method,
      tool: undefined,
      params: {},
      body,
      era,
      session: undefined,
      placement: 'any',
      logLevel: undefined,
      sink,
    },
    { settled: () => undefined, replaySafe: () => true },
    undefined,
  );
  call.writeTo({ slot: 0, release: () => true, cancel: () => undefined }, 5);
  return call;
}

test('server-line path: split anywhere, read and restored with the client id; the byte path agrees with the parsed one', () => {
  fc.assert(
    fc.property(
      obj,
      id,
      fc.constantFrom<Era>('legacy', 'modern'),
      fc.constantFrom('tools/call', 'tools/list', 'prompts/get'),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
      (result, clientId, era, method, idFirst, cuts) => {
        const clean = Object.fromEntries(Object.entries(result).filter(([k]) => !['resultType', 'ttlMs', 'cacheScope'].includes(k)));
        const line = idFirst
          ? JSON.stringify({ jsonrpc: '2.0', id: 5, result: clean })
          : JSON.stringify({ result: clean, jsonrpc: '2.0', id: 5 });
        const stream = Buffer.from(`${line}\n{"jsonrpc":"2.0","method":"x"}\r\n`);
        const small: string[] = [];
        const large: Buffer[] = [];
        const splitter = new LineSplitter(
          1 << 20,
          (l) => small.push(l),
          () => assert.fail('not overlong'),
          { threshold: 1, emit: (b) => large.push(Buffer.from(b)) },
        );
        const plain: string[] = [];
        const reference = new LineSplitter(
          1 << 20,
          (l) => plain.push(l),
          () => assert.fail('not overlong'),
        );
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const next = Math.min(stream.length, at + cuts[k % cuts.length]!);
          splitter.push(stream.subarray(at, next));
          reference.push(stream.subarray(at, next));
          at = next;
        }
        assert.deepEqual(plain, [line, '{"jsonrpc":"2.0","method":"x"}']);
        assert.deepEqual(
          large.map((b) => b.toString('utf8')),
          plain,
        );
        const msg = readMessage(JSON.parse(line)) as RpcResponse;
        const viaText: Captured = { text: undefined };
        fakeCall(era, method, clientId, viaText).respond(line, msg);
        const viaBytes: Captured = { text: undefined };
        const scan = scanJsonBytes(large[0]!);
        assert.ok(scan !== undefined);
        const took = fakeCall(era, method, clientId, viaBytes).respondBytes(large[0]!, scan);
        const expected = JSON.parse(viaText.text!) as { id: unknown };
        assert.equal(expected.id, clientId);
        if (took) assert.deepEqual(JSON.parse(viaBytes.text!), expected);
      },
    ),
    opts,
  );
});

test('line splitter: an overlong line is skipped whole and reported with its edges; framing goes on', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1100, max: 5000 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      (size, cuts, idLast) => {
        const pad = 'x'.repeat(size);
        const long = idLast ? `{"result":{"t":"${pad}"},"jsonrpc":"2.0","id":12}` : `{"jsonrpc":"2.0","id":12,"result":{"t":"${pad}"}}`;
        const stream = Buffer.from(`${long}\n{"a":1}\n`);
        const lines: string[] = [];
        const over: Array<[number, string, string]> = [];
        const s = new LineSplitter(
          1024,
          (l) => lines.push(l),
          (n, h, t) => over.push([n, h.toString(), t.toString()]),
        );
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const next = Math.min(stream.length, at + cuts[k % cuts.length]!);
          s.push(stream.subarray(at, next));
          at = next;
        }
        assert.deepEqual(lines, ['{"a":1}']);
        assert.equal(over.length, 1);
        assert.equal(over[0]![0], long.length);
        assert.ok(long.startsWith(over[0]![1]) && long.endsWith(over[0]![2]));
      },
    ),
    opts,
  );
});

// ---- regressions found by the fuzzer ----

test('regression: a key that is a lone quote or backslash is found, not mistaken for the end of a string', () => {
  const text = JSON.stringify({ '"': { id: 1 }, '\\': 2, id: 3 });
  assert.equal(replaceTopLevelId(text, '3', '9'), JSON.stringify({ '"': { id: 1 }, '\\': 2, id: 9 }));
});

test('one-pass request scan: the depth verdict of nestsDeeperThan and the id and token JSON.parse reads, in any layout', () => {
  const member = fc.oneof(json, obj, fc.record({ _meta: fc.oneof(json, obj), x: json }, { requiredKeys: [] }));
  fc.assert(
    fc.property(
      obj,
      member,
      fc.option(json),
      fc.option(json),
      layout,
      fc.integer({ min: 1, max: 6 }),
      (o, params, tokenValue, idValue, style, max) => {
        const msg: Record<string, unknown> = { ...o, params };
        if (idValue !== null) msg['id'] = idValue;
        const p = msg['params'];
        if (tokenValue !== null && p !== null && typeof p === 'object' && !Array.isArray(p)) {
          const m = (p as Record<string, unknown>)['_meta'];
          if (m !== null && typeof m === 'object' && !Array.isArray(m)) (m as Record<string, unknown>)['progressToken'] = tokenValue;
        }
        const text = write(msg, style);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const scan = scanRequest(text, max);
        assert.equal(scan.tooDeep, nestsDeeperThan(text, max));
        assert.equal(scan.tooDeep, depth(parsed) > max);
        if (scan.tooDeep) return;
        const spans = scan.spans;
        assert.ok(spans !== undefined);
        const at = (m: { start: number; end: number } | undefined) =>
          m === undefined ? undefined : JSON.parse(text.slice(m.start, m.end));
        assert.deepEqual(at(spans.id), parsed['id']);
        const pp = parsed['params'];
        const meta = pp !== null && typeof pp === 'object' && !Array.isArray(pp) ? (pp as Record<string, unknown>)['_meta'] : undefined;
        const token =
          meta !== null && typeof meta === 'object' && !Array.isArray(meta)
            ? (meta as Record<string, unknown>)['progressToken']
            : undefined;
        assert.deepEqual(at(spans.progressToken), token);
      },
    ),
    opts,
  );
});
