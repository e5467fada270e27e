// `mcpmesh up` with `tls: { adapters: true }`: it makes a development CA once,
// its adapters serve mTLS (a connection without the mesh client certificate
// is refused), Envoy reaches them with its client certificate read through
// file-based SDS, xDS runs over TLS, and calls through the agent listener work
// for both generations. A second `up` reuses the CA.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { upStateDir } from '../../../cli/commands/up.js';
import { connectClient, firstText } from '../../support/adapter-fixture.js';
import { freeUpPorts, STDIO_FIXTURE, startUp, stopUp, writeUpConfig } from '../../support/up-process.js';
import { until } from '../../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mcpmesh-up-tls-'));
let config = join(dir, 'mcpmesh.yaml');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(upStateDir(config), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** A TLS request to an adapter's port; resolves with the status, rejects when the handshake is refused. */
function adapterGet(port: number, ca: string, client?: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/readyz',
        ca: readFileSync(ca),
        agent: false,
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('mcpmesh up with tls.adapters: a development CA, mTLS adapters, xDS over TLS, calls work through Envoy', async () => {
  const ports = await freeUpPorts(2);
  const { envoyAdmin, xds } = ports;
  const first = ports.extra[0]!;
  config = writeUpConfig(dir, ports, {
    tls: { adapters: true },
    servers: [{ name: 'fixture', stdio: { command: [process.execPath, STDIO_FIXTURE], replicas: 2, port: first } }],
  });
  const agentUrl = `http://127.0.0.1:${ports.listen}/mcp/fixture`;
  const up = await startUp(config, children, { waitFor: [agentUrl] });
  const ca = join(upStateDir(config), 'dev-ca');
  const caCert = join(ca, 'ca.crt');
  const envoyPair = { cert: join(ca, 'envoy-mcpmesh-up.crt'), key: join(ca, 'envoy-mcpmesh-up.key') };
  assert.ok(existsSync(caCert) && existsSync(envoyPair.cert), 'up made the development CA');
  const caSerial = new X509Certificate(readFileSync(caCert)).serialNumber;

  // The adapters serve mTLS: no client certificate, no connection; the mesh's one is served.
  for (const port of [first, first + 1]) {
    await assert.rejects(adapterGet(port, caCert), `adapter ${port} refuses a client without a certificate`);
    assert.equal(await adapterGet(port, caCert, envoyPair), 200);
  }

  // Through Envoy, both generations.
  for (const era of ['2026', '2025'] as const) {
    await until(
      async () => {
        try {
          const client = await connectClient(agentUrl, era);
          const text = firstText(await client.callTool({ name: 'echo', arguments: { text: `over mTLS ${era}` } }));
          await client.close();
          return text === `echo: over mTLS ${era}`;
        } catch {
          return false;
        }
      },
      `a ${era} call through Envoy to the mTLS adapters`,
      30_000,
      250,
    );
  }

  // Envoy's cluster reads its certificates through SDS, and Envoy holds its client certificate.
  const dump = JSON.stringify(await (await fetch(`http://127.0.0.1:${envoyAdmin}/config_dump`)).json());
  assert.match(dump, /"tls_certificate_sds_secret_configs"/);
  const certs = JSON.stringify(await (await fetch(`http://127.0.0.1:${envoyAdmin}/certs`)).json());
  assert.ok(
    certs.toLowerCase().includes(new X509Certificate(readFileSync(envoyPair.cert)).serialNumber.toLowerCase()),
    "Envoy loaded up's client certificate",
  );
  // xDS is TLS: the xDS port completes a TLS handshake with the dev CA's server certificate.
  const xdsServes = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: xds!, ca: readFileSync(caCert), ALPNProtocols: ['h2'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
  assert.equal(xdsServes, new X509Certificate(readFileSync(join(ca, 'server.crt'))).serialNumber);
  await stopUp(up);

  // A second run uses the same CA.
  const again = await startUp(config, children, { waitFor: [agentUrl] });
  assert.equal(new X509Certificate(readFileSync(caCert)).serialNumber, caSerial);
  await until(
    async () => {
      try {
        const client = await connectClient(agentUrl, '2026');
        const ok = firstText(await client.callTool({ name: 'echo', arguments: { text: 'again' } })) === 'echo: again';
        await client.close();
        return ok;
      } catch {
        return false;
      }
    },
    'calls after a restart',
    30_000,
    250,
  );
  await stopUp(again);
});
