import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, FileConfigReader, localPorts, parseConfigText, toSourceState } from '../../../control-plane/sources/file-config.js';

const file = 'mcpmesh.yaml';
const fakeResolve = async (host: string) =>
  host === 'localhost' ? '127.0.0.1' : host === 'nowhere.invalid' ? Promise.reject(new Error('ENOTFOUND')) : host;

function problems(text: string): string[] {
  try {
    parseConfigText(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected the config to be rejected');
}

describe('config file validation', () => {
  test('malformed YAML is rejected with the parser message', () => {
    const p = problems('servers:\n  - name: a\n   replicas: [');
    assert.ok(p.length > 0);
  });

  test('unknown fields are named', () => {
    const p = problems('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    retries: 3\n');
    assert.deepEqual(p, ['servers.0: Unrecognized key: "retries"']);
  });

  test('unknown policy fields are named with their path', () => {
    const p = problems('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    policy:\n      retry:\n        attemps: 2\n');
    assert.deepEqual(p, ['servers.0.policy.retry: Unrecognized key: "attemps"']);
  });

  test('duplicate names are rejected', () => {
    const p = problems(
      'servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n  - name: a\n    replicas: [http://127.0.0.1:2/mcp]\n',
    );
    assert.deepEqual(p, ['servers.1.name: duplicate server name "a" (also servers.0)']);
  });

  test('duplicate YAML keys are rejected', () => {
    const p = problems('servers: []\nservers: []\n');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /duplicated mapping key/);
  });

  test('invalid URLs are rejected', () => {
    assert.deepEqual(problems('servers:\n  - name: a\n    replicas: ["not a url"]\n'), ['servers.0.replicas.0: "not a url" is not a URL']);
    assert.deepEqual(problems('servers:\n  - name: a\n    replicas: ["ftp://h/x"]\n'), [
      'servers.0.replicas.0: "ftp://h/x" must be an http:// or https:// URL',
    ]);
  });

  test('absurd timeouts are rejected', () => {
    assert.deepEqual(problems('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    policy:\n      timeout: 90000h\n'), [
      'servers.0.policy.timeout: 90000h is outside 1ms..3600000ms',
    ]);
    assert.deepEqual(problems('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    policy:\n      timeout: soon\n'), [
      'servers.0.policy.timeout: "soon" is not a duration (use e.g. 250ms, 5s, 2m)',
    ]);
  });

  test('settings Envoy would reject are rejected here first', () => {
    assert.deepEqual(
      problems(
        'servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    policy:\n      outlier: { baseEjectionTime: 10s, maxEjectionTime: 1s }\n',
      ),
      ['servers.0.policy.outlier.maxEjectionTime: maxEjectionTime must be >= baseEjectionTime'],
    );
    assert.deepEqual(
      problems('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp]\n    policy:\n      healthCheck: { path: "/ready z" }\n'),
      ['servers.0.policy.healthCheck.path: a path starting with / of visible ASCII characters'],
    );
  });

  test('bad server names are rejected', () => {
    const p = problems('servers:\n  - name: "Bad Name"\n    replicas: [http://127.0.0.1:1/mcp]\n');
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^servers\.0\.name: server names are/);
  });

  test('a server needs exactly one of replicas and stdio', () => {
    const p = problems('servers:\n  - name: a\n');
    assert.deepEqual(p, [
      'servers.0: give exactly one of "replicas" (HTTP servers), "stdio" (a stdio command) or "run" (an HTTP server command)',
    ]);
  });
});

describe('config file to source state', () => {
  test('replicas become endpoints with resolved hosts, weights and the server path', async () => {
    const cfg = parseConfigText(
      'servers:\n  - name: a\n    replicas:\n      - http://localhost:3001/mcp\n      - url: http://10.0.0.2:3002/mcp\n        weight: 3\n',
      file,
    );
    const state = await toSourceState(cfg, file, fakeResolve);
    const a = state.servers.get('a')!;
    assert.equal(a.path, '/mcp');
    assert.deepEqual(
      a.replicas.map((r) => [r.id, r.host, r.port, r.weight]),
      [
        ['localhost:3001', '127.0.0.1', 3001, 1],
        ['10.0.0.2:3002', '10.0.0.2', 3002, 3],
      ],
    );
  });

  test('replicas of one server must share a path and a scheme', async () => {
    const cfg = parseConfigText('servers:\n  - name: a\n    replicas: [http://127.0.0.1:1/mcp, https://127.0.0.1:2/other]\n', file);
    await assert.rejects(toSourceState(cfg, file, fakeResolve), (err: ConfigError) => {
      assert.deepEqual(err.problems, [
        'servers.0.replicas.1: path /other differs from /mcp; all replicas of a server serve one MCP path',
        'servers.0.replicas.1: mixes http and https replicas',
      ]);
      return true;
    });
  });

  test('an unresolvable host is an error naming the replica', async () => {
    const cfg = parseConfigText('servers:\n  - name: a\n    replicas: [http://nowhere.invalid:1/mcp]\n', file);
    await assert.rejects(toSourceState(cfg, file, fakeResolve), /servers\.0\.replicas\.0: cannot resolve nowhere\.invalid/);
  });

  test('local servers (stdio, run) get ports in file order; adapters a /readyz health check', async () => {
    const cfg = parseConfigText(
      'servers:\n  - name: a\n    stdio: { command: [x], replicas: 2 }\n  - name: b\n    run: { command: [y], path: /rpc }\n  - name: c\n    stdio: { command: [z], port: 9000 }\n',
      file,
    );
    assert.deepEqual(
      [...localPorts(cfg)],
      [
        ['a', [17100, 17101]],
        ['b', [17102]],
        ['c', [9000]],
      ],
    );
    const state = await toSourceState(cfg, file, fakeResolve);
    assert.equal(state.servers.get('a')!.policy.healthCheck?.path, '/readyz');
    assert.equal(state.servers.get('b')!.path, '/rpc');
    assert.equal(state.servers.get('b')!.policy.healthCheck, undefined);
  });
});

describe('the file reader across edits', () => {
  const http = (name: string, hosts: string[]) =>
    `  - name: ${name}\n    replicas:\n${hosts.map((h) => `      - http://${h}/mcp\n`).join('')}`;
  const stdio = (name: string, replicas: number) => `  - name: ${name}\n    stdio: { command: [x], replicas: ${replicas} }\n`;
  const versions = [
    `servers:\n${http('a', ['127.0.0.1:1'])}${http('b', ['127.0.0.1:2', '[::1]:2'])}${http('c', ['svc.local:3'])}${stdio('d', 1)}`,
    `servers:\n${http('a', ['127.0.0.1:1'])}${http('b', ['127.0.0.1:2', '[::1]:3'])}${http('c', ['svc.local:3'])}${stdio('d', 1)}`,
    // A local server inserted first: the ports of the others follow file order.
    `servers:\n${stdio('z', 2)}${http('a', ['127.0.0.1:1'])}${http('b', ['127.0.0.1:2', '[::1]:3'])}${http('c', ['svc.local:3'])}${stdio('d', 1)}`,
    `servers:\n${http('c', ['svc.local:3'])}${http('a', ['127.0.0.1:1'])}${stdio('d', 1)}`,
    // Invalid edits in between: the same errors as a one-off read, and nothing lost.
    `servers:\n${http('a', ['127.0.0.1:1'])}${http('a', ['127.0.0.1:9'])}`,
    `servers:\n${http('a', ['127.0.0.1:1'])}    retries: 3\n`,
    `servers:\n${http('a', ['127.0.0.1:1'])}${http('e', ['nowhere.invalid:1'])}`,
    `servers:\n${http('c', ['svc.local:3'])}${http('a', ['127.0.0.1:1'])}${stdio('d', 2)}`,
  ];

  test('gives what a one-off read of each version gives, errors included', async () => {
    let address = '10.0.0.1';
    const resolve = (host: string) => (host === 'svc.local' ? Promise.resolve(address) : fakeResolve(host));
    const reader = new FileConfigReader(file, resolve);
    for (const [i, text] of versions.entries()) {
      address = `10.0.0.${i + 1}`;
      const oneOff = await Promise.resolve()
        .then(() => toSourceState(parseConfigText(text, file), file, resolve))
        .then(
          (s) => ({ ok: true as const, servers: [...s.servers] }),
          (err: ConfigError) => ({ ok: false as const, problems: err.problems }),
        );
      const read = await reader.read(text).then(
        (s) => ({ ok: true as const, servers: [...s.servers] }),
        (err: ConfigError) => ({ ok: false as const, problems: err.problems }),
      );
      assert.deepEqual(read, oneOff, `version ${i}`);
    }
  });

  test('an unchanged server keeps its object; names are resolved again on every read', async () => {
    let address = '10.0.0.1';
    const resolve = (host: string) => (host === 'svc.local' ? Promise.resolve(address) : fakeResolve(host));
    const reader = new FileConfigReader(file, resolve);
    const first = await reader.read(versions[0]!);
    const second = await reader.read(versions[1]!);
    assert.equal(second.servers.get('a'), first.servers.get('a'));
    assert.notEqual(second.servers.get('b'), first.servers.get('b'));
    assert.equal(second.servers.get('c'), first.servers.get('c'), 'resolved again to the same address: same object');
    assert.equal(second.servers.get('d'), first.servers.get('d'));
    address = '10.0.0.7';
    const third = await reader.read(versions[2]!);
    assert.equal(third.servers.get('a'), first.servers.get('a'));
    assert.equal(third.servers.get('c')!.replicas[0]!.host, '10.0.0.7');
    assert.deepEqual(
      third.servers.get('d')!.replicas.map((r) => r.port),
      [17102],
      'ports follow the inserted server',
    );
    await assert.rejects(reader.read(versions[4]!), /duplicate server name "a"/);
    const after = await reader.read(versions[2]!);
    assert.equal(after.servers.get('a'), first.servers.get('a'), 'a rejected edit loses nothing');
  });

  test('an unchanged entry is not validated again', () => {
    const reader = new FileConfigReader(file);
    const one = reader.validate(versions[0]!);
    const two = reader.validate(versions[1]!);
    assert.equal(two.servers[0], one.servers[0]);
    assert.notEqual(two.servers[1], one.servers[1]);
  });
});

test('tls.adapters: stdio servers are reached over TLS and verified by their IP SAN; run servers stay plain; bad caDir is named', async () => {
  const file = '/tmp/mcpmesh.yaml';
  const text = [
    'tls: { adapters: true, caDir: /etc/mcpmesh/dev-ca }',
    'servers:',
    '  - { name: tools, stdio: { command: [node, s.js], replicas: 2, port: 17100 } }',
    '  - { name: web, run: { command: [node, w.js], port: 17200 } }',
  ].join('\n');
  const state = await toSourceState(parseConfigText(text, file), file);
  const tools = state.servers.get('tools')!;
  assert.equal(tools.tls, true);
  assert.deepEqual(
    tools.replicas.map((r) => r.tlsName),
    ['127.0.0.1', '127.0.0.1'],
  );
  assert.equal(state.servers.get('web')!.tls, false);
  const plain = await toSourceState(parseConfigText(text.replace('adapters: true', 'adapters: false'), file), file);
  assert.equal(plain.servers.get('tools')!.tls, false);
  assert.throws(() => parseConfigText(text.replace('/etc/mcpmesh/dev-ca', 'relative/dir'), file), /tls\.caDir: an absolute directory path/);
  assert.throws(() => parseConfigText(text.replace('adapters: true', 'adapters: true, mtls: 1'), file), /tls: Unrecognized key/);
});
