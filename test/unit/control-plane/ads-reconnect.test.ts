// The bootstrap's ADS retry backoff: an Envoy that saw the control plane go
// away must be back on it within seconds of its restart (fault 6 of the fault
// suite restarts a real one under load).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapConfig } from '../../../envoy/bootstrap.js';

type Json = Record<string, any>;

const seconds = (d: string) => Number(d.replace(/s$/, ''));

for (const delta of [false, true]) {
  test(`the ${delta ? 'delta' : 'SotW'} ADS stream is retried with a backoff capped at 5 s, not Envoy's 30 s`, () => {
    const cfg = bootstrapConfig({ nodeId: 'n', xdsPort: 18000, adminPort: 19000, delta }) as Json;
    const services = cfg['dynamic_resources']['ads_config']['grpc_services'] as Json[];
    assert.equal(services.length, 1);
    const backOff = services[0]!['envoy_grpc']['retry_policy']['retry_back_off'];
    assert.equal(seconds(backOff['base_interval']), 0.5);
    assert.equal(seconds(backOff['max_interval']), 5);
  });
}
