import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { inspect } from 'node:util';
import {
  ConsulKeyRingWatcher,
  ensureKeyFile,
  KeyFileWatcher,
  KeyRing,
  KeyRingError,
  type KeyRingJson,
  keyRingFromEnv,
  rotateKeyFile,
} from '../../../../adapter/sessions/session-keys.js';
import type { ConsulHttp, ConsulResponse } from '../../../../lib/consul/consul-http.js';
import { until } from '../../../support/wait.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;
const secret = () => randomBytes(32).toString('base64');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcpmesh-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ringJson = (keys: KeyRingJson['keys'], graceSeconds?: number): KeyRingJson => ({
  version: 1,
  keys,
  ...(graceSeconds !== undefined ? { graceSeconds } : {}),
});

test('parses the documented format; dates as ISO-8601 or epoch ms, secrets as base64 or base64url', () => {
  const s1 = randomBytes(32);
  const ring = KeyRing.parse(
    JSON.stringify(
      ringJson(
        [
          { kid: 'old', secret: s1.toString('base64url'), activeFrom: T0 - HOUR },
          { kid: 'new', secret: secret(), activeFrom: '2026-03-01T00:00:00Z', retireAt: T0 + 10 * HOUR },
        ],
        60,
      ),
    ),
  );
  assert.deepEqual(
    ring.keys.map((k) => k.kid),
    ['old', 'new'],
  );
  assert.ok(ring.keys[0]!.secretBytes().equals(s1));
  assert.equal(ring.graceMs, 60_000);
  assert.equal(ring.signer(T0 - 1)?.kid, 'old');
  assert.equal(ring.signer(T0)?.kid, 'new');
  assert.equal(ring.acceptUntil('old'), T0 + 60_000);
  assert.equal(ring.acceptUntil('new'), T0 + 10 * HOUR);
  assert.equal(ring.signer(T0 + 10 * HOUR), undefined, 'the only active key retired: nothing signs');
  assert.equal(ring.verifier('new', T0 - HOUR)?.kid, 'new', 'a key not yet active is accepted already');
});

test('refuses invalid rings naming the field, and never quotes a secret', () => {
  const short = randomBytes(31).toString('base64');
  const cases: [unknown, RegExp][] = [
    ['not json', /is JSON/],
    [{ version: 2, keys: [] }, /version/],
    [ringJson([]), /keys/],
    [ringJson([{ kid: 'k1', secret: short, activeFrom: 0 }]), /keys\.0\.secret: a secret is base64 of 32 bytes/],
    [ringJson([{ kid: 'bad kid', secret: secret(), activeFrom: 0 }]), /keys\.0\.kid/],
    [ringJson([{ kid: 'k1', secret: secret(), activeFrom: 'yesterday' }]), /keys\.0\.activeFrom/],
    [
      ringJson([
        { kid: 'k1', secret: secret(), activeFrom: 0 },
        { kid: 'k1', secret: secret(), activeFrom: 1 },
      ]),
      /kid k1 appears twice/,
    ],
    [
      ringJson([
        { kid: 'a', secret: secret(), activeFrom: 5 },
        { kid: 'b', secret: secret(), activeFrom: 5 },
      ]),
      /same activeFrom/,
    ],
    [ringJson([{ kid: 'a', secret: secret(), activeFrom: 5, retireAt: 5 }]), /retireAt is not after/],
    [{ ...ringJson([{ kid: 'a', secret: secret(), activeFrom: 5 }]), extra: 1 }, /extra|Unrecognized/],
    [ringJson(Array.from({ length: 17 }, (_, i) => ({ kid: `k${i}`, secret: secret(), activeFrom: i }))), /keys/],
  ];
  for (const [input, message] of cases) {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    assert.throws(
      () => KeyRing.parse(text),
      (err: unknown) => {
        assert.ok(err instanceof KeyRingError, String(err));
        assert.match(err.message, message);
        assert.ok(!err.message.includes(short) && !/[A-Za-z0-9+/]{40,}/.test(err.message), `secret-like text in: ${err.message}`);
        return true;
      },
    );
  }
});

test('keys and rings print and serialize without their secrets', () => {
  const s = secret();
  const ring = KeyRing.parse(JSON.stringify(ringJson([{ kid: 'k1', secret: s, activeFrom: T0 }])));
  const raw = Buffer.from(s, 'base64');
  for (const text of [
    inspect(ring, { depth: 10, showHidden: true }),
    inspect(ring.keys[0], { showHidden: true }),
    JSON.stringify(ring),
    JSON.stringify({ key: ring.keys[0] }),
    String(ring.keys[0]),
  ]) {
    assert.ok(!text.includes(s) && !text.includes(raw.toString('hex')) && !text.includes(raw.toString('base64url')), text);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(ring)), {
    graceSeconds: 86_400,
    keys: [{ kid: 'k1', activeFrom: '2026-03-01T00:00:00.000Z' }],
  });
});

test('MCPMESH_SESSION_KEYS: the same format, undefined when unset, the variable named on error', () => {
  const text = JSON.stringify(ringJson([{ kid: 'env1', secret: secret(), activeFrom: 0 }]));
  assert.equal(keyRingFromEnv({ MCPMESH_SESSION_KEYS: text })?.signer(T0)?.kid, 'env1');
  assert.equal(keyRingFromEnv({}), undefined);
  assert.equal(keyRingFromEnv({ MCPMESH_SESSION_KEYS: '  ' }), undefined);
  assert.throws(() => keyRingFromEnv({ MCPMESH_SESSION_KEYS: '{"version":1}' }), /^KeyRingError: MCPMESH_SESSION_KEYS: keys/);
  assert.equal(keyRingFromEnv({ OTHER: text }, 'OTHER')?.keys.length, 1);
});

test('ensureKeyFile creates a 0600 file in a 0700 directory once, also when called concurrently', async () => {
  const file = join(dir, 'state', 'nested', 'session-keys.json');
  const results = await Promise.all(Array.from({ length: 6 }, () => ensureKeyFile(file, T0)));
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'state', 'nested'))).mode & 0o777, 0o700);
  const ring = KeyRing.parse(await readFile(file, 'utf8'));
  assert.equal(ring.keys.length, 1);
  assert.equal(ring.signer(T0)?.activeFrom, T0);
  const again = await ensureKeyFile(file, T0);
  assert.deepEqual(again, { created: false });
  const loose = join(dir, 'loose.json');
  await writeFile(loose, '{}', { mode: 0o644 });
  assert.match((await ensureKeyFile(loose)).warning ?? '', /readable by others \(mode 644\)/);
  const leftovers = (await import('node:fs')).readdirSync(join(dir, 'state', 'nested'));
  assert.deepEqual(leftovers, ['session-keys.json'], 'no temporary file left');
});

test('rotateKeyFile adds a key that signs after a delay; the old one is accepted for the grace, then dropped', async () => {
  const file = join(dir, 'rotate.json');
  await writeFile(file, JSON.stringify(ringJson([{ kid: 'k1', secret: secret(), activeFrom: T0 - HOUR }], 3_600)), { mode: 0o600 });
  const ring = await rotateKeyFile(file, { now: T0, activateAfterMs: 60_000 });
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(ring.keys.length, 2);
  const fresh = ring.keys[1]!;
  assert.equal(fresh.activeFrom, T0 + 60_000);
  assert.equal(ring.signer(T0)?.kid, 'k1');
  assert.equal(ring.signer(T0 + 60_000)?.kid, fresh.kid);
  assert.equal(ring.acceptUntil('k1'), T0 + 60_000 + HOUR);
  const later = await rotateKeyFile(file, { now: T0 + 2 * HOUR, activateAfterMs: 0 });
  assert.deepEqual(later.keys.map((k) => k.kid).includes('k1'), false, 'k1 is past its grace and dropped');
  assert.equal(later.keys.length, 2);
  await writeFile(file, 'garbage');
  await assert.rejects(rotateKeyFile(file), /rotate\.json: a key ring is JSON/);
});

test('KeyFileWatcher: reloads on change (rename or in place), keeps the last good ring on a bad edit', async () => {
  const file = join(dir, 'watched.json');
  const write = async (text: string) => {
    const tmp = `${file}.tmp`;
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  };
  await write(JSON.stringify(ringJson([{ kid: 'a', secret: secret(), activeFrom: 0 }])));
  const changes: string[] = [];
  const errors: string[] = [];
  const w = new KeyFileWatcher({
    file,
    pollMs: 100,
    onChange: (r) => changes.push(r.keys.map((k) => k.kid).join(',')),
    onError: (m) => errors.push(m),
  });
  try {
    const first = await w.start();
    assert.equal(first.keys[0]!.kid, 'a');
    await write(
      JSON.stringify(
        ringJson([
          { kid: 'a', secret: secret(), activeFrom: 0 },
          { kid: 'b', secret: secret(), activeFrom: 1 },
        ]),
      ),
    );
    await until(() => changes.includes('a,b'), 'reload after rename');
    assert.equal(w.ring?.signer(T0)?.kid, 'b');
    const badSecret = secret();
    await writeFile(file, JSON.stringify(ringJson([{ kid: 'c', secret: badSecret.slice(0, 20), activeFrom: 0 }])));
    await until(() => errors.length > 0, 'bad edit reported');
    assert.match(errors[0]!, /watched\.json: keys\.0\.secret.*the key ring in force stays/);
    assert.ok(!errors.some((e) => e.includes(badSecret.slice(0, 20))));
    assert.equal(w.ring?.signer(T0)?.kid, 'b', 'last good ring stays');
    await writeFile(file, JSON.stringify(ringJson([{ kid: 'd', secret: secret(), activeFrom: 0 }])));
    await until(() => changes.includes('d'), 'reload after in-place write');
    await rm(file);
    await until(() => errors.some((e) => /cannot read: ENOENT/.test(e)), 'a removed file is reported');
    assert.equal(w.ring?.signer(T0)?.kid, 'd');
  } finally {
    w.stop();
    await w.settled();
  }
  await assert.rejects(new KeyFileWatcher({ file: join(dir, 'missing.json') }).start(), /missing\.json: cannot read: ENOENT/);
});

/** A Consul that answers from a script, then holds the query until it is aborted. */
function scriptedConsul(answers: { status: 200 | 404; value?: string }[]): Pick<ConsulHttp, 'request'> {
  let index = 10;
  return {
    request<T>(_m: string, _p: string, opts: { signal?: AbortSignal; notFoundAs?: T }): Promise<ConsulResponse<T>> {
      const a = answers.shift();
      if (a === undefined) {
        return new Promise((_resolve, reject) =>
          opts.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
        );
      }
      index += 1;
      const body =
        a.status === 404 ? opts.notFoundAs : [{ Key: 'k', Value: a.value === undefined ? null : Buffer.from(a.value).toString('base64') }];
      return Promise.resolve({ body: body as T, index });
    },
  };
}

test('ConsulKeyRingWatcher: waits for a valid ring, follows changes, keeps the ring on a bad value', async () => {
  const good1 = JSON.stringify(ringJson([{ kid: 'c1', secret: secret(), activeFrom: 0 }]));
  const good2 = JSON.stringify(
    ringJson([
      { kid: 'c1', secret: secret(), activeFrom: 0 },
      { kid: 'c2', secret: secret(), activeFrom: 1 },
    ]),
  );
  const errors: string[] = [];
  const changes: string[] = [];
  const http = scriptedConsul([
    { status: 404 },
    { status: 200, value: '{"version":1,"keys":[]}' },
    { status: 200, value: good1 },
    { status: 200, value: 'nope' },
    { status: 200, value: good2 },
  ]);
  const w = new ConsulKeyRingWatcher({
    http,
    server: 'tools',
    onError: (m) => errors.push(m),
    onChange: (r) => changes.push(r.keys.map((k) => k.kid).join(',')),
  });
  w.start();
  try {
    const ring = await w.ready(5_000);
    assert.equal(ring.keys[0]!.kid, 'c1');
    assert.match(errors[0]!, /mcpmesh\/session-keys\/tools is missing or empty/);
    assert.match(errors[1]!, /keys/);
    await until(() => changes.length === 1, 'the second ring');
    assert.equal(changes[0], 'c1,c2');
    assert.match(errors[2]!, /is JSON.*the key ring in force stays/);
  } finally {
    w.stop();
  }
  const never = new ConsulKeyRingWatcher({ http: scriptedConsul([{ status: 404 }]), server: 'tools' });
  never.start();
  await assert.rejects(never.ready(200), /no valid session key ring at mcpmesh\/session-keys\/tools after 200 ms: .*missing or empty/);
  never.stop();
  assert.throws(() => new ConsulKeyRingWatcher({ http, server: '../etc' }), KeyRingError);
});
