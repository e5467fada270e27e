// After a Consul restart (its index went backwards) the catalog comes back
// empty and fills as instances register again, each with a check that is
// critical until it first runs. Taken as it comes, that would empty Envoy's
// clusters for as long as re-registration takes: replicas keep their last good
// state until they reappear with a check that is not critical, or the grace ends.
// A Consul that lost its data (a dev agent) comes back with an empty KV too:
// the mesh settings are held with the servers, so a held server's policy never
// meets a mesh without the token provider it names (which fails it closed).
import type { Logger } from '../../lib/log.js';
import { replicaKey } from '../catalog/catalog-builder.js';
import type { MeshSettings } from '../catalog/mesh-schema.js';
import type { Replica, ServerSpec } from '../catalog/model.js';

export interface RestartGraceOptions {
  readonly graceMs: number;
  readonly logger: Logger;
  /** The grace ended: what is delivered next no longer holds anything. */
  readonly ended: () => void;
}

export class RestartGrace {
  private until = 0;
  private since = 0;
  private held = new Map<string, ServerSpec>();
  /** replicaKey()s seen again with a check that is not critical: their own state counts from then on. */
  private released = new Set<string>();
  private lastDelivered: ReadonlyMap<string, ServerSpec> = new Map();
  private heldMesh: MeshSettings | undefined;
  private lastMesh: MeshSettings | undefined;
  private meshReleased = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RestartGraceOptions) {}

  /** Consul restarted: hold what was delivered last. */
  begin(): void {
    // One restart is seen by all three watches: the first one starts the grace.
    if (Date.now() < this.until) return;
    if (this.lastDelivered.size === 0) return;
    this.since = Date.now();
    this.until = this.since + this.opts.graceMs;
    this.held = new Map([...this.lastDelivered].filter(([, spec]) => spec.replicas.length > 0));
    this.heldMesh = this.lastMesh;
    this.meshReleased = false;
    this.released = new Set();
    this.opts.logger.warn(
      { graceMs: this.opts.graceMs },
      'Consul restarted (index went backwards): keeping services that have not re-registered yet',
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.opts.ended(), this.opts.graceMs + 10);
    this.timer.unref();
  }

  /**
   * The servers to deliver, from those read now: during the grace, held ones
   * are merged in. `fetchedAt` is when a server's instances were read: only
   * instances read from the restarted Consul are evidence.
   */
  deliver(servers: Map<string, ServerSpec>, fetchedAt: (name: string) => number): ReadonlyMap<string, ServerSpec> {
    if (Date.now() < this.until) {
      for (const [name, held] of this.held) {
        const spec = withHeldReplicas(fetchedAt(name) >= this.since ? servers.get(name) : undefined, held, this.released);
        if (spec !== undefined) servers.set(name, spec);
        else servers.delete(name);
      }
    } else {
      this.held.clear();
      this.released.clear();
    }
    this.lastDelivered = servers;
    return servers;
  }

  /**
   * The mesh settings to deliver, from those read now: during the grace, a
   * restarted Consul that has had none yet keeps the last delivered ones.
   */
  deliverMesh(current: MeshSettings | undefined): MeshSettings | undefined {
    // Like a replica, settings seen again in the restarted Consul are released: from then on they count, absence included.
    if (current !== undefined) this.meshReleased = true;
    const mesh = Date.now() < this.until && !this.meshReleased ? this.heldMesh : current;
    this.lastMesh = mesh;
    return mesh;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * A service during the restart grace: a replica keeps its last good state
 * until it is seen again with a check that is not critical; from then on (it
 * is in `released`) its own state counts, absence included. New replicas are
 * taken as they are.
 */
export function withHeldReplicas(now: ServerSpec | undefined, held: ServerSpec, released: Set<string>): ServerSpec | undefined {
  const current = new Map((now?.replicas ?? []).map((r) => [r.id, r]));
  const replicas: Replica[] = [];
  for (const h of held.replicas) {
    const key = replicaKey(held.name, h.id);
    const r = current.get(h.id);
    if (r !== undefined && r.health !== 'unhealthy') released.add(key);
    if (released.has(key)) {
      if (r !== undefined) replicas.push(r);
    } else replicas.push(h);
  }
  const heldIds = new Set(held.replicas.map((r) => r.id));
  for (const r of now?.replicas ?? []) if (!heldIds.has(r.id)) replicas.push(r);
  if (now === undefined && replicas.length === 0) return undefined;
  return { ...(now ?? held), replicas };
}
