// The admin service against a fake pipeline: what it reads from the views,
// what it refuses, and the commands it sends.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NotFoundError, ValidationError } from '../../../control-plane/admin/admin-backend.js';
import { AdminService } from '../../../control-plane/admin/admin-service.js';
import { buildCatalog, replicaKey } from '../../../control-plane/catalog/catalog-builder.js';
import type { Catalog, SourceState } from '../../../control-plane/catalog/model.js';
import { resolvePolicy } from '../../../control-plane/catalog/policy-resolution.js';
import type { PolicyInput } from '../../../control-plane/catalog/policy-schema.js';
import type { PipelineCommands, PipelineView } from '../../../control-plane/control-plane.js';
import { serverSpec } from '../../support/specs.js';

class FakePipeline implements PipelineView, PipelineCommands {
  state: SourceState = { servers: new Map([['tools', { ...serverSpec('tools', [7001, 7002], { timeout: 2_000 }), adapter: true }]]) };
  catalog: Catalog = buildCatalog(this.state, new Map());
  drained: ReadonlySet<string> = new Set();
  readonly commands: string[] = [];
  readonly xdsPort = 18000;
  sourceState = () => this.state;
  currentCatalog = () => this.catalog;
  drainedReplicas = () => this.drained;
  source = () => ({ kind: 'file' as const, synced: true, stale: false, lastError: undefined, lastSyncAt: 1 });
  clients = () => [];
  currentSnapshot = () => undefined;
  serving = () => true;
  async writePolicy(server: string, policy: PolicyInput | null): Promise<void> {
    this.commands.push(`policy ${server} ${JSON.stringify(policy)}`);
  }
  drain(server: string, replicaId: string): void {
    this.commands.push(`drain ${server}/${replicaId}`);
    this.drained = new Set([...this.drained, replicaKey(server, replicaId)]);
  }
  undrain(server: string, replicaId: string): void {
    this.commands.push(`undrain ${server}/${replicaId}`);
  }
}

describe('admin service', () => {
  test('server views come from the catalog in force, with the explicit policy as written', () => {
    const pipeline = new FakePipeline();
    const view = new AdminService(pipeline).server('tools')!;
    assert.equal(view.agentUrlPath, '/mcp/tools');
    assert.deepEqual(view.explicitPolicy, { timeout: '2s' });
    assert.equal(view.effectivePolicy.policy, pipeline.catalog.servers[0]!.policy);
    assert.deepEqual(
      view.replicas.map((r) => `${r.id}:${r.drained}`),
      ['127.0.0.1:7001:false', '127.0.0.1:7002:false'],
    );
  });

  test('a server the catalog lacks shows the policy it would get', () => {
    const pipeline = new FakePipeline();
    pipeline.catalog = { servers: [] };
    const view = new AdminService(pipeline).server('tools')!;
    assert.deepEqual(view.effectivePolicy, { policy: resolvePolicy({ timeout: 2_000 }), toolRoutes: [] });
  });

  test('the server list is the same array until the catalog, the state or the drained set changes', () => {
    const pipeline = new FakePipeline();
    const admin = new AdminService(pipeline);
    const first = admin.servers();
    assert.equal(admin.servers(), first);
    pipeline.drained = new Set([replicaKey('tools', '127.0.0.1:7001')]);
    const drained = admin.servers();
    assert.notEqual(drained, first);
    assert.equal(drained[0]!.replicas[0]!.drained, true);
    pipeline.catalog = buildCatalog(pipeline.state, new Map());
    assert.notEqual(admin.servers(), drained);
  });

  test('changes to unknown servers or replicas and invalid policies are refused before any command', async () => {
    const pipeline = new FakePipeline();
    const admin = new AdminService(pipeline);
    await assert.rejects(admin.setPolicy('nope', { timeout: '1s' }), NotFoundError);
    await assert.rejects(admin.deletePolicy('nope'), NotFoundError);
    await assert.rejects(
      admin.setPolicy('tools', { timeout: 'soon' }),
      (err: unknown) => err instanceof ValidationError && /policy\.timeout/.test(err.details[0] ?? ''),
    );
    await assert.rejects(admin.drainReplica('tools', 'zz'), /server "tools" has no replica "zz"/);
    await assert.rejects(admin.undrainReplica('nope', '127.0.0.1:7001'), NotFoundError);
    assert.deepEqual(pipeline.commands, []);
  });

  test('valid changes become pipeline commands', async () => {
    const pipeline = new FakePipeline();
    const admin = new AdminService(pipeline);
    await admin.setPolicy('tools', { timeout: '5s' });
    await admin.deletePolicy('tools');
    await admin.drainReplica('tools', '127.0.0.1:7001');
    await admin.undrainReplica('tools', '127.0.0.1:7001');
    assert.deepEqual(pipeline.commands, [
      'policy tools {"timeout":"5s"}',
      'policy tools null',
      'drain tools/127.0.0.1:7001',
      'undrain tools/127.0.0.1:7001',
    ]);
  });

  test('readiness and scrape targets are read from the views', () => {
    const pipeline = new FakePipeline();
    const admin = new AdminService(pipeline);
    const r = admin.readiness();
    assert.equal(r.ready, false, 'no snapshot yet');
    assert.deepEqual(r.checks['xds'], { ok: true, detail: 'port 18000' });
    assert.deepEqual(admin.scrapeTargets(), [
      { targets: ['127.0.0.1:7001'], labels: { server: 'tools', replica: '127.0.0.1:7001' } },
      { targets: ['127.0.0.1:7002'], labels: { server: 'tools', replica: '127.0.0.1:7002' } },
    ]);
  });
});
