// A flag given on the command line or in the environment wins over the config
// file even when it repeats the flag's default; a flag left out does not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTROL_PLANE_FLAGS, listenSettings } from '../../../cli/commands/control-plane.js';
import { parseFlags } from '../../../cli/flags.js';
import { parseConfigText } from '../../../control-plane/sources/file-config.js';

const file = parseConfigText(
  ['controlPlane: { xdsPort: 18001, adminPort: 9911 }', 'envoy: { listenAddress: 0.0.0.0, listenPort: 10001 }', 'servers: []'].join('\n'),
  'mcpmesh.yaml',
);
const settings = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  listenSettings(parseFlags(['--config', 'mcpmesh.yaml', ...argv], CONTROL_PLANE_FLAGS, env), file);

describe('flag precedence', () => {
  test('parsing records which flags were given, from argv or MCPMESH_* variables', () => {
    const p = parseFlags(['--xds-port', '18000', '--consul-consistent'], CONTROL_PLANE_FLAGS, {
      MCPMESH_ADMIN_PORT: '9900',
      MCPMESH_LISTEN_PORT: '',
    });
    assert.deepEqual([...p.explicit].sort(), ['admin-port', 'consul-consistent', 'xds-port']);
    assert.equal(p.values['listen-port'], CONTROL_PLANE_FLAGS['listen-port']!.default, 'an empty variable leaves the default');
  });

  test('--xds-port 18000, the default, wins over a file that says 18001', () => {
    assert.equal(settings(['--xds-port', '18000']).xdsPort, 18000);
  });

  test('the same from the environment', () => {
    assert.equal(settings([], { MCPMESH_XDS_PORT: '18000' }).xdsPort, 18000);
  });

  test('flags left out take the file over their defaults', () => {
    assert.deepEqual(settings([]), { xdsPort: 18001, adminPort: 9911, listener: { address: '0.0.0.0', port: 10001 } });
  });

  test('every file-settable flag given at its default wins', () => {
    const given = settings(['--xds-port', '18000', '--admin-port', '9900', '--listen-address', '127.0.0.1', '--listen-port', '10000']);
    assert.deepEqual(given, { xdsPort: 18000, adminPort: 9900, listener: { address: '127.0.0.1', port: 10000 } });
  });

  test('without a file, the flags and their defaults', () => {
    const p = parseFlags(['--listen-port', '10002'], CONTROL_PLANE_FLAGS, {});
    assert.deepEqual(listenSettings(p, undefined), { xdsPort: 18000, adminPort: 9900, listener: { address: '127.0.0.1', port: 10002 } });
  });
});
