// Config Envoy rejects, config the control plane cannot translate, and a
// control-plane restart, against a real Envoy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packAny } from '../../../control-plane/xds/api/envoy-protos.js';
import { TYPE } from '../../../control-plane/xds/api/type-urls.js';
import { resourceSet, type Snapshot } from '../../../control-plane/xds/snapshot.js';
import { type McpUpstream, startMcpUpstream } from '../../support/mcp-upstream.js';
import { configDump, dynamicClusters, type Mesh, startMesh } from '../../support/mesh.js';
import { until } from '../../support/wait.js';

async function pushes(mesh: Mesh, type?: string): Promise<number> {
  const m = await mesh.metrics.pushes.get();
  return m.values.filter((v) => type === undefined || v.labels['type'] === type).reduce((n, v) => n + v.value, 0);
}

async function versions(mesh: Mesh): Promise<string> {
  const dump = await configDump(mesh.adminUrl);
  const pick = (name: string) => dump.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${name}`);
  const clusters = pick('ClustersConfigDump') as { version_info: string; dynamic_active_clusters: { version_info: string }[] };
  const listeners = pick('ListenersConfigDump') as { version_info: string };
  const routes = pick('RoutesConfigDump') as { dynamic_route_configs: { version_info: string }[] };
  return JSON.stringify([
    clusters.version_info,
    clusters.dynamic_active_clusters.map((c) => c.version_info),
    listeners.version_info,
    routes.dynamic_route_configs.map((r) => r.version_info),
  ]);
}

for (const variant of ['sotw', 'delta'] as const) {
  describe(`bad config and restarts (${variant})`, () => {
    const upstreams: McpUpstream[] = [];
    let mesh: Mesh;
    before(async () => {
      for (const id of ['n1', 'n2']) upstreams.push(await startMcpUpstream({ id }));
      mesh = await startMesh({
        config: { servers: [{ name: 'tools', replicas: upstreams.map((u) => u.url) }] },
        delta: variant === 'delta',
      });
      await until(() => mesh.cp.ads.isConverged() && mesh.cp.clients().length === 1, 'converged');
    });
    after(async () => {
      await mesh?.stop();
      for (const u of upstreams) await u.close();
    });

    test('a config Envoy rejects: last good stays, the NACK is reported with Envoy’s text, and it is not resent', async () => {
      const good = mesh.cp.ads.currentSnapshot()!;
      // A cluster Envoy refuses (the file schema would refuse it too, so it is built by hand).
      const cluster = {
        name: 'mcp_tools',
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
        connect_timeout: { seconds: 1 },
        outlier_detection: { base_ejection_time: { seconds: 10 }, max_ejection_time: { seconds: 1 } },
      };
      const any = packAny(TYPE.cluster, cluster);
      const bad: Snapshot = new Map([...good, [TYPE.cluster, resourceSet([{ name: 'mcp_tools', version: 'rejected-1', any }])]]);
      const clustersBefore = JSON.stringify(await dynamicClusters(mesh.adminUrl));
      const before = await pushes(mesh, 'clusters');
      mesh.cp.ads.setSnapshot(bad);
      await until(() => mesh.cp.clients()[0]?.lastNack !== undefined, 'NACK recorded');
      const nack = mesh.cp.clients()[0]!.lastNack!;
      assert.equal(nack.type, 'clusters');
      assert.match(nack.message, /max_ejection_time cannot be smaller than base_ejection_time/);
      assert.equal((await mesh.metrics.nacks.get()).values.find((v) => v.labels['type'] === 'clusters')?.value, 1);
      // Two seconds later: still one push of the rejected config, and Envoy kept the good one.
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal((await pushes(mesh, 'clusters')) - before, 1);
      assert.equal(JSON.stringify(await dynamicClusters(mesh.adminUrl)), clustersBefore);
      mesh.cp.ads.setSnapshot(good);
      await until(() => mesh.cp.ads.isConverged(), 'good config ACKed again');
    });

    test('a config the control plane cannot translate changes nothing', async () => {
      const generation = mesh.cp.ads.currentGeneration();
      mesh.writeConfig({ servers: [{ name: 'tools', replicas: ['http://no-such-host.invalid:8080/mcp'] }] });
      await until(() => mesh.cp.source().lastError !== undefined, 'rejection reported');
      assert.match(mesh.cp.source().lastError!, /servers\.0\.replicas\.0: cannot resolve no-such-host\.invalid/);
      assert.equal(mesh.cp.ads.currentGeneration(), generation);
      mesh.writeConfig({ servers: [{ name: 'tools', replicas: upstreams.map((u) => u.url) }] });
      await until(() => mesh.cp.source().lastError === undefined, 'valid file accepted again');
    });

    test('a restarted control plane: Envoy reconnects and no resource changes version', async () => {
      await until(() => mesh.cp.ads.isConverged(), 'converged');
      const before = await versions(mesh);
      await mesh.restartControlPlane();
      await until(() => mesh.cp.clients().length === 1 && mesh.cp.ads.isConverged(), 'Envoy reconnected');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await versions(mesh), before);
      assert.equal(await pushes(mesh), 0, 'nothing pushed to an Envoy that holds the current versions');
    });
  });
}
