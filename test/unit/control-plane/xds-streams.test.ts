// The xDS protocol rules, driven through the stream state machines with
// recorded responses (no gRPC, no Envoy: those are in the integration tests).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { TYPE, type TypeUrl } from '../../../control-plane/xds/api/type-urls.js';
import { DeltaStream } from '../../../control-plane/xds/delta-stream.js';
import { diffSnapshots, type Snapshot } from '../../../control-plane/xds/snapshot.js';
import { SotwStream } from '../../../control-plane/xds/sotw-stream.js';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from '../../../control-plane/xds/xds-messages.js';
import type { StreamHooks } from '../../../control-plane/xds/xds-stream.js';
import { serverSpec, snapshotOf } from '../../support/specs.js';

const server = serverSpec;

const snap = snapshotOf;

class Harness {
  snapshot: Snapshot | undefined;
  generation = 0;
  nacks: string[] = [];
  converged: number[] = [];
  readonly hooks: StreamHooks = {
    snapshot: () => this.snapshot,
    generation: () => this.generation,
    logger: pino({ level: 'silent' }),
    identifier: 'test',
    pushed: () => undefined,
    acked: () => undefined,
    nacked: (_s, _t, version, message) => this.nacks.push(`${version}:${message}`),
    converged: (_s, g) => this.converged.push(g),
    names: (names) => new Set(names),
  };
  changed: Map<TypeUrl, Set<string>> = new Map();
  set(s: Snapshot): void {
    this.changed = diffSnapshots(this.snapshot, s);
    this.snapshot = s;
    this.generation++;
  }
}

const node = { id: 'n1', cluster: 'c' };

describe('SotW stream', () => {
  function setup() {
    const h = new Harness();
    const out: DiscoveryResponse[] = [];
    const s = new SotwStream('peer', h.hooks, (r) => out.push(r));
    return { h, out, s };
  }
  const last = (out: DiscoveryResponse[], type: string) => [...out].reverse().find((r) => r.type_url === type)!;
  const ack = (s: SotwStream, r: DiscoveryResponse, names: string[] = []) =>
    s.handle({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: names });

  test('answers in order, echoes nonces, and is quiet once everything is ACKed', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1])));
    s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type_url, TYPE.cluster);
    s.handle({ type_url: TYPE.listener, resource_names: [] });
    // Listeners wait for the clusters' ACK.
    assert.equal(out.length, 1);
    ack(s, out[0]!);
    assert.equal(out.at(-1)!.type_url, TYPE.listener);
    s.handle({ type_url: TYPE.endpoints, resource_names: ['mcp_a'] });
    assert.equal(out.at(-1)!.type_url, TYPE.endpoints);
    ack(s, last(out, TYPE.endpoints), ['mcp_a']);
    ack(s, last(out, TYPE.listener));
    s.handle({ type_url: TYPE.route, resource_names: ['mcp_routes'] });
    ack(s, last(out, TYPE.route), ['mcp_routes']);
    const count = out.length;
    assert.ok(h.converged.includes(1));
    // A stale nonce is ignored.
    s.handle({ type_url: TYPE.cluster, version_info: 'old', response_nonce: 'nope', resource_names: [] });
    assert.equal(out.length, count);
  });

  test('a NACK is recorded and the rejected version is not sent again', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1])));
    s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
    const r = out[0]!;
    s.handle({
      type_url: TYPE.cluster,
      version_info: '',
      response_nonce: r.nonce,
      resource_names: [],
      error_detail: { code: 3, message: 'bad cluster' },
    });
    assert.deepEqual(h.nacks, [`${r.version_info}:bad cluster`]);
    // Envoy keeps asking with its last good version: no resend loop.
    s.handle({
      type_url: TYPE.cluster,
      version_info: '',
      response_nonce: r.nonce,
      resource_names: [],
      error_detail: { code: 3, message: 'bad cluster' },
    });
    s.pump();
    assert.equal(out.length, 1);
    // A new snapshot is sent.
    h.set(snap(server('a', [1]), server('b', [2])));
    s.pump();
    assert.equal(out.length, 2);
  });

  test('a reconnecting Envoy that holds the current version gets no push', () => {
    const { h, out, s } = setup();
    const snapshot = snap(server('a', [1]));
    h.set(snapshot);
    s.handle({ node, type_url: TYPE.cluster, version_info: snapshot.get(TYPE.cluster)!.version, resource_names: [] });
    assert.equal(out.length, 0);
  });

  test('after a cluster change, endpoints are sent again even when unchanged', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1])));
    s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
    ack(s, out[0]!);
    s.handle({ type_url: TYPE.endpoints, resource_names: ['mcp_a'] });
    const eds1 = last(out, TYPE.endpoints);
    ack(s, eds1, ['mcp_a']);
    // Same endpoints, different cluster settings.
    h.set(snap({ ...server('a', [1]), policy: { connectTimeout: 2000 } }));
    s.pump();
    const cds2 = last(out, TYPE.cluster);
    assert.notEqual(cds2.version_info, out[0]!.version_info);
    const eds2 = last(out, TYPE.endpoints);
    assert.notEqual(eds2.nonce, eds1.nonce);
    assert.equal(eds2.version_info, eds1.version_info);
  });

  test('endpoint responses carry only the assignments that changed', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
    ack(s, out[0]!);
    s.handle({ type_url: TYPE.endpoints, resource_names: ['mcp_a', 'mcp_b'] });
    const first = last(out, TYPE.endpoints);
    assert.equal(first.contents.resources.size, 2);
    ack(s, first, ['mcp_a', 'mcp_b']);
    h.set(snap(server('a', [1, 3]), server('b', [2])));
    s.pump();
    const second = last(out, TYPE.endpoints);
    assert.equal(second.contents.resources.size, 1);
    assert.notEqual(second.version_info, first.version_info);
  });

  test('endpoints: streams in the same state share one change set; a new stream, and one after a NACK, get the whole set', () => {
    const h = new Harness();
    const streams = [0, 1, 2].map(() => {
      const out: DiscoveryResponse[] = [];
      return { out, s: new SotwStream('peer', h.hooks, (r) => out.push(r)) };
    });
    const names = ['mcp_a', 'mcp_b', 'mcp_c'];
    const connect = ({ s, out }: (typeof streams)[number]) => {
      s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
      ack(s, last(out, TYPE.cluster));
      s.handle({ type_url: TYPE.endpoints, resource_names: names });
      ack(s, last(out, TYPE.endpoints), names);
    };
    const [one, two, late] = streams as [(typeof streams)[number], (typeof streams)[number], (typeof streams)[number]];
    h.set(snap(server('a', [1]), server('b', [2]), server('c', [3])));
    connect(one);
    connect(two);
    h.set(snap(server('a', [1]), server('b', [2, 4]), server('c', [3])));
    one.s.pump(h.changed);
    two.s.pump(h.changed);
    const eds = h.snapshot!.get(TYPE.endpoints)!;
    const [r1, r2] = [last(one.out, TYPE.endpoints), last(two.out, TYPE.endpoints)];
    assert.deepEqual([...r1.contents.resources.keys()], ['mcp_b']);
    assert.equal(r1.contents, r2.contents, 'one change set for both');
    assert.equal(r1.version_info, eds.version);
    connect(late);
    const r3 = late.out.find((r) => r.type_url === TYPE.endpoints)!;
    assert.equal(r3.version_info, eds.version);
    assert.equal(r3.contents, eds, 'the whole set for a new stream');
    // After a NACK, what the client holds is not known: the next response carries everything.
    one.s.handle({
      type_url: TYPE.endpoints,
      version_info: '',
      response_nonce: r1.nonce,
      resource_names: names,
      error_detail: { code: 3, message: 'no' },
    });
    h.set(snap(server('a', [1]), server('b', [2, 5]), server('c', [3])));
    one.s.pump(h.changed);
    assert.deepEqual([...last(one.out, TYPE.endpoints).contents.resources.keys()], names);
  });

  test('a removed cluster stays until the routes without it are ACKed', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.cluster, resource_names: [] });
    ack(s, out[0]!);
    s.handle({ type_url: TYPE.listener, resource_names: [] });
    ack(s, last(out, TYPE.listener));
    s.handle({ type_url: TYPE.route, resource_names: ['mcp_routes'] });
    ack(s, last(out, TYPE.route), ['mcp_routes']);
    h.set(snap(server('a', [1])));
    s.pump();
    const routes = last(out, TYPE.route);
    // Clusters: b still present until the routes are ACKed.
    assert.equal(last(out, TYPE.cluster).contents.resources.size, 2);
    ack(s, last(out, TYPE.cluster));
    ack(s, routes, ['mcp_routes']);
    assert.equal(last(out, TYPE.cluster).contents.resources.size, 1);
  });
});

describe('delta stream', () => {
  function setup() {
    const h = new Harness();
    const out: DeltaDiscoveryResponse[] = [];
    const s = new DeltaStream('peer', h.hooks, (r) => out.push(r));
    return { h, out, s };
  }
  const ack = (s: DeltaStream, r: DeltaDiscoveryResponse) => s.handle({ type_url: r.type_url, response_nonce: r.nonce });

  test('sends only what changed', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.endpoints, resource_names_subscribe: ['mcp_a', 'mcp_b'] });
    assert.deepEqual(out[0]!.resources.map((r) => r.name).sort(), ['mcp_a', 'mcp_b']);
    ack(s, out[0]!);
    h.set(snap(server('a', [1, 3]), server('b', [2])));
    s.pump(h.changed);
    assert.deepEqual(
      out[1]!.resources.map((r) => r.name),
      ['mcp_a'],
    );
  });

  test('a name subscribed later is sent, though the snapshot already had it', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.endpoints, resource_names_subscribe: ['mcp_a'] });
    assert.deepEqual(
      out[0]!.resources.map((r) => r.name),
      ['mcp_a'],
    );
    ack(s, out[0]!);
    s.handle({ type_url: TYPE.endpoints, resource_names_subscribe: ['mcp_b'] });
    assert.deepEqual(
      out[1]?.resources.map((r) => r.name),
      ['mcp_b'],
    );
  });

  test('a NACK takes back only what the response carried', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.endpoints, resource_names_subscribe: ['mcp_a', 'mcp_b'] });
    ack(s, out[0]!);
    h.set(snap(server('a', [1, 3]), server('b', [2])));
    s.pump(h.changed);
    s.handle({ type_url: TYPE.endpoints, response_nonce: out[1]!.nonce, error_detail: { code: 3, message: 'bad' } });
    assert.deepEqual(h.nacks.length, 1);
    // The rejected version is not sent again; a newer one is, and b was never in question.
    h.set(snap(server('a', [1, 4]), server('b', [2])));
    s.pump(h.changed);
    assert.deepEqual(
      out.slice(2).map((r) => r.resources.map((x) => x.name)),
      [['mcp_a']],
    );
  });

  test('honours initial_resource_versions on reconnect', () => {
    const { h, out, s } = setup();
    const snapshot = snap(server('a', [1]), server('b', [2]));
    h.set(snapshot);
    const eds = snapshot.get(TYPE.endpoints)!.resources;
    s.handle({
      node,
      type_url: TYPE.endpoints,
      resource_names_subscribe: ['mcp_a', 'mcp_b'],
      initial_resource_versions: { mcp_a: eds.get('mcp_a')!.version, mcp_b: 'stale' },
    });
    assert.deepEqual(
      out[0]!.resources.map((r) => r.name),
      ['mcp_b'],
    );
  });

  test('wildcard clusters: removals are explicit, and a NACKed resource is not resent', () => {
    const { h, out, s } = setup();
    h.set(snap(server('a', [1]), server('b', [2])));
    s.handle({ node, type_url: TYPE.cluster });
    ack(s, out[0]!);
    h.set(snap(server('a', [1])));
    s.pump(h.changed);
    assert.deepEqual(out[1]!.removed_resources, ['mcp_b']);
    ack(s, out[1]!);
    h.set(snap({ ...server('a', [1]), policy: { connectTimeout: 3000 } }));
    s.pump(h.changed);
    s.handle({ type_url: TYPE.cluster, response_nonce: out[2]!.nonce, error_detail: { code: 3, message: 'no' } });
    assert.equal(h.nacks.length, 1);
    s.pump(h.changed);
    assert.equal(out.length, 3);
  });
});
