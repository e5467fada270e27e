import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJsonContentType, originAllowed, readAccept } from '../../../adapter/protocol/request-checks.js';

test('Origin: absent and localhost origins pass, others only when allowed', () => {
  const none = { allowed: [] };
  for (const o of [undefined, '', 'http://localhost', 'http://localhost:3000', 'https://127.0.0.1:8443', 'http://[::1]:9'])
    assert.ok(originAllowed(o, none), String(o));
  for (const o of ['http://evil.example', 'http://localhost.evil.example', 'null', 'file://localhost', 'not a url'])
    assert.ok(!originAllowed(o, none), o);
  assert.ok(originAllowed('https://app.example', { allowed: ['https://app.example'] }));
  assert.ok(!originAllowed('https://app.example:444', { allowed: ['https://app.example'] }));
  assert.ok(originAllowed('http://anything.example', { allowed: ['*'] }));
});

test('Accept: missing and wildcards accept both forms', () => {
  assert.deepEqual(readAccept(undefined), { json: true, sse: true });
  assert.deepEqual(readAccept('*/*'), { json: true, sse: true });
  assert.deepEqual(readAccept('application/json, text/event-stream'), { json: true, sse: true });
  assert.deepEqual(readAccept('application/json'), { json: true, sse: false });
  assert.deepEqual(readAccept('text/event-stream'), { json: false, sse: true });
  assert.deepEqual(readAccept('text/html'), { json: false, sse: false });
});

test('Content-Type: application/json with or without parameters', () => {
  assert.ok(isJsonContentType('application/json'));
  assert.ok(isJsonContentType('Application/JSON; charset=utf-8'));
  assert.ok(!isJsonContentType('text/plain'));
  assert.ok(!isJsonContentType('application/json-patch+json'));
  assert.ok(!isJsonContentType(undefined));
});
