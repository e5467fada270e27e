// A change to one server of many rebuilds one: the file source hands out the
// previous object for every unchanged server, the catalog and the snapshot
// builder recognize those by identity, and what changed is rebuilt.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec, SourceState, ToolInfo } from '../../../control-plane/catalog/model.js';
import { SnapshotBuilder } from '../../../control-plane/snapshot-builder.js';
import { FileSource } from '../../../control-plane/sources/file-source.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { deepEqual } from '../../../lib/deep-equal.js';

const LISTENER = { address: '127.0.0.1', port: 10000 };

const spec = (name: string, port: number): ServerSpec => ({
  name,
  path: '/mcp',
  protocol: 'auto',
  tls: false,
  replicas: [{ id: `127.0.0.1:${port}`, host: '127.0.0.1', port, health: 'healthy', weight: 1 }],
  policy: { retry: { attempts: 3 } },
});

test('deepEqual compares JSON-like values structurally', () => {
  assert.equal(deepEqual({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] }), true);
  assert.equal(deepEqual({ a: [1, 2] }, { a: [2, 1] }), false);
  assert.equal(deepEqual({ a: 1 }, { a: 1, b: undefined }), false);
  assert.equal(deepEqual([], {}), false);
  assert.equal(deepEqual({ a: 1 }, null), false);
});

test('the catalog reuses the entry of an unchanged server, and rebuilds on new tools or a drain', () => {
  const a = spec('a', 1);
  const b = spec('b', 2);
  const state: SourceState = {
    servers: new Map([
      ['a', a],
      ['b', b],
    ]),
  };
  const tools = new Map<string, readonly ToolInfo[]>([['a', [{ name: 'echo', readOnly: true, idempotent: true }]]]);
  const first = buildCatalog(state, tools);
  const again = buildCatalog(
    {
      servers: new Map([
        ['a', a],
        ['b', spec('b', 3)],
      ]),
    },
    tools,
  );
  assert.equal(again.servers[0], first.servers[0]);
  assert.notEqual(again.servers[1], first.servers[1]);
  assert.equal(again.servers[1]!.replicas[0]!.port, 3);
  const newTools = buildCatalog(state, new Map([['a', [{ name: 'other', readOnly: false, idempotent: false }]]]));
  assert.deepEqual(
    newTools.servers[0]!.toolRoutes.map((r) => r.tool),
    ['other'],
  );
  const drained = buildCatalog(state, tools, { drained: new Set(['a/127.0.0.1:1']) });
  assert.equal(drained.servers[0]!.replicas[0]!.health, 'draining');
  assert.equal(buildCatalog(state, tools).servers[0]!.replicas[0]!.health, 'healthy');
});

test('the snapshot builder re-encodes only the server that changed', () => {
  const builder = new SnapshotBuilder();
  const a = spec('a', 1);
  const s1 = builder.build(
    buildCatalog(
      {
        servers: new Map([
          ['a', a],
          ['b', spec('b', 2)],
        ]),
      },
      new Map(),
    ),
    LISTENER,
  );
  const s2 = builder.build(
    buildCatalog(
      {
        servers: new Map([
          ['a', a],
          ['b', spec('b', 3)],
        ]),
      },
      new Map(),
    ),
    LISTENER,
  );
  const eds = (s: typeof s1, name: string) => s.get(TYPE.endpoints)!.resources.get(name)!;
  assert.equal(eds(s2, 'mcp_a'), eds(s1, 'mcp_a'));
  assert.notEqual(eds(s2, 'mcp_b').version, eds(s1, 'mcp_b').version);
  assert.equal(s2.get(TYPE.cluster), s1.get(TYPE.cluster), 'clusters unchanged: the same set');
});

test('the file source hands out the previous object for every server whose entry did not change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-incr-'));
  const file = join(dir, 'mcpmesh.yaml');
  const config = (bPort: number) =>
    stringify({
      servers: [
        { name: 'a', replicas: ['http://127.0.0.1:1/mcp'] },
        { name: 'b', replicas: [`http://127.0.0.1:${bPort}/mcp`] },
      ],
    });
  writeFileSync(file, config(2));
  const source = new FileSource({ file, logger: pino({ level: 'silent' }) });
  const states: SourceState[] = [];
  let next: () => void = () => undefined;
  await source.start((s) => {
    states.push(s);
    next();
  });
  try {
    const second = new Promise<void>((r) => (next = r));
    writeFileSync(file, config(3));
    await second;
    assert.equal(states[1]!.servers.get('a'), states[0]!.servers.get('a'));
    assert.notEqual(states[1]!.servers.get('b'), states[0]!.servers.get('b'));
    assert.equal(states[1]!.servers.get('b')!.replicas[0]!.port, 3);
  } finally {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
