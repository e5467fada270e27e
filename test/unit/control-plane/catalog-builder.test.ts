import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCatalog } from '../../../control-plane/catalog/catalog-builder.js';
import type { ServerSpec } from '../../../control-plane/catalog/model.js';
import { parsePolicy } from '../../../control-plane/catalog/policy-schema.js';

function spec(policy: unknown = {}): ServerSpec {
  const parsed = parsePolicy(policy);
  assert.ok(parsed.ok);
  return {
    name: 's',
    path: '/mcp',
    protocol: 'auto',
    tls: false,
    replicas: [
      { id: 'b', host: '127.0.0.1', port: 2, health: 'healthy', weight: 1 },
      { id: 'a', host: '127.0.0.1', port: 1, health: 'healthy', weight: 1 },
    ],
    policy: parsed.policy,
  };
}

describe('catalog builder', () => {
  test('read-only and idempotent tools retry on any retryable failure, others only when the request never arrived', () => {
    const c = buildCatalog(
      { servers: new Map([['s', spec()]]) },
      new Map([
        [
          's',
          [
            { name: 'read', readOnly: true, idempotent: false },
            { name: 'put', readOnly: false, idempotent: true },
            { name: 'send', readOnly: false, idempotent: false },
          ],
        ],
      ]),
    );
    const routes = Object.fromEntries(c.servers[0]!.toolRoutes.map((t) => [t.tool, t]));
    assert.deepEqual(routes['read']!.retry.retryOn, ['5xx', 'reset', 'connect-failure', 'refused-stream', 'retriable-headers']);
    assert.deepEqual(routes['put']!.retry.retryOn, ['5xx', 'reset', 'connect-failure', 'refused-stream', 'retriable-headers']);
    assert.deepEqual(routes['send']!.retry.retryOn, ['connect-failure', 'refused-stream', 'reset-before-request', 'retriable-headers']);
    assert.equal(routes['send']!.origin, 'annotations');
  });

  test('an explicit tool policy overrides the annotations', () => {
    const c = buildCatalog(
      {
        servers: new Map([
          ['s', spec({ tools: { send: { idempotent: true, timeout: '5s', retry: { attempts: 4, perTryTimeout: '1s' } } } })],
        ]),
      },
      new Map([['s', [{ name: 'send', readOnly: false, idempotent: false }]]]),
    );
    const t = c.servers[0]!.toolRoutes[0]!;
    assert.equal(t.origin, 'explicit');
    assert.equal(t.idempotent, true);
    assert.equal(t.timeoutMs, 5000);
    assert.equal(t.retry.attempts, 4);
    assert.equal(t.retry.perTryTimeoutMs, 1000);
    assert.ok(t.retry.retryOn.includes('5xx'));
  });

  test('a server-wide retry never widens what unsafe tools retry', () => {
    const c = buildCatalog(
      { servers: new Map([['s', spec({ retry: { retryOn: ['5xx'], attempts: 5 } })]]) },
      new Map([['s', [{ name: 'send', readOnly: false, idempotent: false }]]]),
    );
    const t = c.servers[0]!.toolRoutes[0]!;
    assert.deepEqual(t.retry.retryOn, ['connect-failure', 'refused-stream', 'reset-before-request', 'retriable-headers']);
    assert.equal(t.retry.attempts, 5);
    assert.deepEqual(c.servers[0]!.policy.safeRetry.retryOn, ['5xx']);
  });

  test('replicas are sorted and drained replicas are marked draining', () => {
    const c = buildCatalog({ servers: new Map([['s', spec()]]) }, new Map(), { drained: new Set(['s/b']) });
    assert.deepEqual(
      c.servers[0]!.replicas.map((r) => [r.id, r.health]),
      [
        ['a', 'healthy'],
        ['b', 'draining'],
      ],
    );
  });

  test('defaults eject one bad replica out of three', () => {
    const c = buildCatalog({ servers: new Map([['s', spec()]]) }, new Map());
    assert.ok(c.servers[0]!.policy.outlier.maxEjectionPercent >= 34);
  });
});
