// A real Consul agent (-dev, in memory) on loopback ports of its own.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';

export const CONSUL_BIN = join(process.env['MCPMESH_CACHE'] ?? join(homedir(), '.cache', 'mcpmesh'), 'consul-1.22.3', 'consul');

export interface ConsulAgent {
  readonly url: string;
  readonly httpPort: number;
  /** Stops the agent (SIGKILL) and starts a fresh one on the same ports. */
  restart(): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** PUT/GET against the agent's HTTP API (with ACLs: as the management token). */
  api(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<unknown>;
  /** With ACLs: the initial management token. */
  readonly managementToken: string | undefined;
  /** WAN gossip port (with a datacenter), for another datacenter to join. */
  readonly serfWanPort: number | undefined;
}

export interface ConsulAgentOptions {
  /** ACLs on with default deny; the agent's own token and the API's are this management token. */
  readonly acl?: {
    readonly managementToken: string;
    /**
     * Several datacenters: the one whose ACL system is authoritative. A
     * secondary replicates policies and tokens from it with the management
     * token as its replication token, and is never bootstrapped itself.
     */
    readonly primaryDatacenter?: string;
  };
  /** The agent's datacenter (default Consul's dc1); with it, WAN gossip is on, on a port of its own. */
  readonly datacenter?: string;
  /** Join this agent's WAN pool (another datacenter's serfWanPort on loopback). */
  readonly joinWan?: number;
}

/** With ACLs on: a policy of these rules (HCL) and a token holding it; returns the token's secret. */
export async function createAclToken(consul: ConsulAgent, name: string, rules: string): Promise<string> {
  await consul.api('PUT', '/v1/acl/policy', { Name: name, Rules: rules });
  const token = (await consul.api('PUT', '/v1/acl/token', { Description: name, Policies: [{ Name: name }] })) as { SecretID: string };
  return token.SecretID;
}

export async function startConsul(opts: ConsulAgentOptions = {}): Promise<ConsulAgent> {
  if (!existsSync(CONSUL_BIN)) throw new Error(`Consul not found at ${CONSUL_BIN}: run scripts/setup.sh consul`);
  // DNS, WAN gossip and gRPC are off: nothing here uses them, and each port
  // handed over is one more that can be taken before Consul binds it.
  let [http, serfLan, server, serfWan] = await freePorts(4);
  const dc = opts.datacenter;
  let child: ChildProcess | undefined;
  let log = '';
  let url = `http://127.0.0.1:${http}`;
  const token = opts.acl?.managementToken;
  let aclFile: string | undefined;
  if (token !== undefined) {
    // default deny, and the management token for the agent's own calls (its node registration, anti-entropy).
    aclFile = join(mkdtempSync(join(tmpdir(), 'mcpmesh-consul-acl-')), 'acl.hcl');
    const primary = opts.acl?.primaryDatacenter;
    const secondary = primary !== undefined && primary !== opts.datacenter;
    writeFileSync(
      aclFile,
      [
        ...(primary !== undefined ? [`primary_datacenter = "${primary}"`] : []),
        'acl {',
        '  enabled = true',
        '  default_policy = "deny"',
        '  enable_token_persistence = false',
        ...(secondary ? ['  enable_token_replication = true'] : []),
        '  tokens {',
        secondary ? `    replication = "${token}"` : `    initial_management = "${token}"`,
        `    agent = "${token}"`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  }
  const api = async (method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      ...(token !== undefined ? { headers: { 'x-consul-token': token } } : {}),
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Consul ${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as unknown) : null;
  };
  const start = async () => {
    log = '';
    child = spawn(
      CONSUL_BIN,
      [
        'agent',
        '-dev',
        '-bind=127.0.0.1',
        '-client=127.0.0.1',
        `-node=mcpmesh-test${dc !== undefined ? `-${dc}` : ''}`,
        ...(dc !== undefined ? [`-datacenter=${dc}`, `-serf-wan-port=${serfWan}`] : ['-serf-wan-port=-1']),
        ...(opts.joinWan !== undefined ? [`-retry-join-wan=127.0.0.1:${opts.joinWan}`, '-retry-interval-wan=1s'] : []),
        `-http-port=${http}`,
        `-serf-lan-port=${serfLan}`,
        `-server-port=${server}`,
        '-dns-port=-1',
        '-grpc-port=-1',
        '-grpc-tls-port=-1',
        '-log-level=warn',
        ...(aclFile !== undefined ? [`-config-file=${aclFile}`] : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    const end = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`consul exited ${child.exitCode}:\n${log}`);
      try {
        const leader = (await api('GET', '/v1/status/leader')) as string;
        if (leader) return;
      } catch {
        // not up yet
      }
      if (Date.now() > end) throw new Error(`consul has no leader after 30 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  };
  // Ports are checked free, but another process can still bind one first; a
  // fresh agent then gets fresh ports. After this, restarts keep the URL.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (attempt === 3 || !/address already in use/.test(String(err))) throw err;
      [http, serfLan, server, serfWan] = await freePorts(4);
      url = `http://127.0.0.1:${http}`;
    }
  }
  return {
    url,
    httpPort: http!,
    start,
    kill,
    async restart() {
      await kill();
      await start();
    },
    stop: kill,
    api,
    managementToken: token,
    serfWanPort: dc !== undefined ? serfWan : undefined,
  };
}

/** Registers a service instance with an HTTP or TTL check, as an adapter would. */
export async function registerService(
  consul: ConsulAgent,
  s: {
    name: string;
    id: string;
    port: number;
    address?: string;
    tags?: string[];
    meta?: Record<string, string>;
    weight?: number;
    ttlCheck?: boolean;
    httpCheck?: string;
  },
): Promise<void> {
  await consul.api('PUT', '/v1/agent/service/register', {
    Name: s.name,
    ID: s.id,
    Address: s.address ?? '127.0.0.1',
    Port: s.port,
    Tags: s.tags ?? ['mcp'],
    Meta: s.meta ?? {},
    ...(s.weight ? { Weights: { Passing: s.weight, Warning: 1 } } : {}),
    Check: s.httpCheck
      ? { CheckID: `check-${s.id}`, HTTP: s.httpCheck, Interval: '1s', Timeout: '1s' }
      : { CheckID: `check-${s.id}`, TTL: '600s', Status: s.ttlCheck === false ? 'critical' : 'passing' },
  });
}

export async function setCheck(consul: ConsulAgent, id: string, status: 'pass' | 'warn' | 'fail'): Promise<void> {
  await consul.api('PUT', `/v1/agent/check/${status}/check-${id}`);
}
