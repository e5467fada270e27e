// Envoys that connect at different times converge on the same endpoints. An
// endpoints-only change sends the connected Envoys only the assignment that
// changed; an Envoy that connects afterwards must still get every cluster's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { renderBootstrap } from '../../../envoy/bootstrap.js';
import { type EnvoyProcess, startEnvoy } from '../../../envoy/envoy-process.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { clusterHostStatus, configDump, type Mesh, startMesh } from '../../support/mesh.js';
import { freePort } from '../../support/ports.js';
import { until } from '../../support/wait.js';

const SERVERS = ['a', 'b', 'c'] as const;
const CLUSTERS = SERVERS.map((s) => `mcp_${s}`);

/** Per cluster, the sorted host addresses Envoy's cluster manager has. */
async function hostsByCluster(adminUrl: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const c of CLUSTERS) out[c] = (await clusterHostStatus(adminUrl, c)).map((h) => h.address).sort();
  return out;
}

/** A ClusterLoadAssignment as Envoy's config_dump shows it (the parts read here). */
interface Assignment {
  cluster_name: string;
  endpoints?: { lb_endpoints?: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[];
}

/** Per cluster, the sorted addresses of the assignment in Envoy's config_dump. */
async function assignments(adminUrl: string): Promise<Record<string, string[]>> {
  const dump = await configDump(adminUrl);
  const eds = dump.find((x) => x['@type'] === 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump');
  const out: Record<string, string[]> = {};
  for (const entry of (eds?.['dynamic_endpoint_configs'] as { endpoint_config: Assignment }[] | undefined) ?? []) {
    const cla = entry.endpoint_config;
    const addresses = (cla.endpoints ?? []).flatMap((l) =>
      (l.lb_endpoints ?? []).map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`),
    );
    out[cla.cluster_name] = addresses.sort();
  }
  return out;
}

for (const variant of ['sotw', 'delta'] as const) {
  describe(`an Envoy that connects after an endpoints-only change (${variant})`, () => {
    const upstreams: McpUpstream[] = [];
    const envoys: EnvoyProcess[] = [];
    let mesh: Mesh;
    const address = (i: number) => `127.0.0.1:${upstreams[i]!.port}`;
    // a, b and c on one replica each; the change gives b a second one.
    const config = (bReplicas: readonly number[]) => ({
      servers: [
        { name: 'a', replicas: [upstreams[0]!.url] },
        { name: 'b', replicas: bReplicas.map((i) => upstreams[i]!.url) },
        { name: 'c', replicas: [upstreams[2]!.url] },
      ],
    });
    const startAnotherEnvoy = async (nodeId: string): Promise<EnvoyProcess> => {
      const adminPort = await freePort();
      const envoy = await startEnvoy({
        configYaml: renderBootstrap({ nodeId, xdsPort: mesh.cp.xdsPort, adminPort, delta: variant === 'delta' }),
        adminPort,
      });
      envoys.push(envoy);
      return envoy;
    };

    before(async () => {
      for (const id of ['u0', 'u1', 'u2', 'u3']) upstreams.push(await startMcpUpstream({ id }));
      mesh = await startMesh({ config: config([1]), delta: variant === 'delta', discoverTools: false });
    });
    after(async () => {
      for (const e of envoys) await e.stop();
      await mesh?.stop();
      for (const u of upstreams) await u.close();
    });

    test("the late Envoy has every cluster's endpoints in /clusters and /config_dump", async () => {
      const initial = { mcp_a: [address(0)], mcp_b: [address(1)], mcp_c: [address(2)] };
      const second = await startAnotherEnvoy(`late-${variant}-second`);
      for (const adminUrl of [mesh.adminUrl, second.adminUrl]) {
        await until(
          async () => JSON.stringify(await hostsByCluster(adminUrl)) === JSON.stringify(initial),
          `${adminUrl}: the initial endpoints`,
        );
      }
      await until(() => mesh.cp.clients().length === 2 && mesh.cp.ads.isConverged(), 'two Envoys converged');

      const before = mesh.cp.ads.currentSnapshot()!;
      mesh.writeConfig(config([1, 3]));
      const changed = { ...initial, mcp_b: [address(1), address(3)].sort() };
      for (const adminUrl of [mesh.adminUrl, second.adminUrl]) {
        await until(
          async () => JSON.stringify(await hostsByCluster(adminUrl)) === JSON.stringify(changed),
          `${adminUrl}: b's second replica`,
        );
      }
      await until(() => mesh.cp.ads.isConverged(), 'two Envoys converged on the change');
      // Endpoints only: every other type is as it was.
      const after = mesh.cp.ads.currentSnapshot()!;
      for (const type of [TYPE.cluster, TYPE.listener, TYPE.route])
        assert.equal(after.get(type)!.version, before.get(type)!.version, `${type} unchanged`);
      assert.notEqual(after.get(TYPE.endpoints)!.version, before.get(TYPE.endpoints)!.version);

      const late = await startAnotherEnvoy(`late-${variant}-third`);
      const lateView = () => mesh.cp.clients().find((c) => c.nodeId === `late-${variant}-third`);
      await until(() => lateView()?.acked.endpoints === after.get(TYPE.endpoints)!.version, 'the late Envoy ACKed the current endpoints');
      assert.deepEqual(await assignments(late.adminUrl), changed, "the late Envoy's config_dump");
      await until(() => lateView()?.acked.routes !== undefined && mesh.cp.ads.isConverged(), 'the late Envoy converged');
      await late.waitLive();
      assert.deepEqual(await hostsByCluster(late.adminUrl), changed, "the late Envoy's /clusters");
      // The Envoys that were connected still hold the others' endpoints too.
      for (const adminUrl of [mesh.adminUrl, second.adminUrl])
        assert.deepEqual(await assignments(adminUrl), changed, `${adminUrl}: config_dump`);
    });
  });
}
