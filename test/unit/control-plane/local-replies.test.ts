import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultLocalReplyRules, localReplyBody, localReplyConfig } from '../../../control-plane/envoy/local-replies.js';
import { MAX_REQUEST_BODY_BYTES } from '../../../control-plane/envoy/routes.js';
import { buildSnapshot } from '../../../control-plane/snapshot-builder.js';
import { decodeAny, fieldAt, type PackedAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';

test('the 413 rule answers a JSON-RPC error with id null', () => {
  const [rule] = defaultLocalReplyRules(MAX_REQUEST_BODY_BYTES);
  assert.equal(rule?.status, 413);
  const body = JSON.parse(localReplyBody(rule!)) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
  assert.deepEqual([body.jsonrpc, body.id, body.error.code], ['2.0', null, -32000]);
  assert.match(body.error.message, new RegExp(`must not exceed ${MAX_REQUEST_BODY_BYTES} bytes`));
});

test('a % in a message is escaped for the format string; two rules for one status are refused', () => {
  const config = localReplyConfig([{ status: 429, code: -32000, message: '100% busy' }]) as {
    mappers: { body_format_override: { text_format_source: { inline_string: string } } }[];
  };
  assert.match(config.mappers[0]!.body_format_override.text_format_source.inline_string, /100%% busy/);
  assert.throws(
    () =>
      localReplyConfig([
        { status: 401, code: -32001, message: 'a' },
        { status: 401, code: -32001, message: 'b' },
      ]),
    /one rule per status/,
  );
});

test('the listener carries the mapper through protobuf encoding', () => {
  const snapshot = buildSnapshot({ servers: [] }, { address: '127.0.0.1', port: 10000 });
  const listener = [...(snapshot.get(TYPE.listener)?.resources.values() ?? [])][0]!;
  const hcmAny = fieldAt(decodeAny(listener.any), 'filter_chains', '0', 'filters', '0', 'typed_config') as PackedAny;
  const mapper = fieldAt(decodeAny(hcmAny), 'local_reply_config', 'mappers', '0');
  assert.equal(fieldAt(mapper, 'status_code', 'value'), 413);
  assert.equal(fieldAt(mapper, 'filter', 'status_code_filter', 'comparison', 'value', 'default_value'), 413);
  assert.equal(fieldAt(mapper, 'body_format_override', 'content_type'), 'application/json');
  const body = fieldAt(mapper, 'body_format_override', 'text_format_source', 'inline_string') as string;
  assert.equal(JSON.parse(body).id, null);
});
