// Which peers may say who their client is: the proxies in front of the adapter
// (Envoy) whose X-Forwarded-For entry is believed. A list of addresses and
// CIDR blocks, matched with node's BlockList (IPv4-mapped IPv6 peers count as
// their IPv4 address).
//
// One hop only: a trusted peer's request has the agent's address as the last
// X-Forwarded-For entry (Envoy's listener appends its own peer), and everything
// before it is whatever the agent wrote. Walking further left past entries
// that are themselves trusted would let an agent on a trusted address (an
// agent on Envoy's own host, with mcpmesh up) name any source it likes.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface TrustedProxies {
  /** Whether `address` (a peer's socket address) is a trusted proxy. */
  trusts(address: string): boolean;
  /** The list as given (logs, /metrics info): never secret. */
  readonly entries: readonly string[];
}

/** The old `--trust-forwarded-for` on: every peer's last hop is believed. */
export const ANY_PEER: readonly string[] = ['0.0.0.0/0', '::/0'];

/** Peer addresses whose verdict is kept (more peers than this only cost the check again). */
const MAX_VERDICTS = 1024;

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** An address as BlockList checks it: IPv4-mapped IPv6 as IPv4, a zone index dropped. */
export function plainAddress(address: string): string {
  const mapped = MAPPED_V4.exec(address);
  if (mapped !== null) return mapped[1]!;
  const zone = address.indexOf('%');
  return zone >= 0 ? address.slice(0, zone) : address;
}

/** Why an entry is not an address or a CIDR block, or undefined when it is one. */
export function trustedProxyProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return `"${entry}" is not an IP address or CIDR block (such as 10.0.0.0/8 or fd00::/8)`;
  if (slash < 0) return undefined;
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${entry}": the prefix length must be 0 to ${max}`;
  return undefined;
}

/** Parses a list of addresses and CIDR blocks; throws naming every bad entry. */
export function trustedProxies(entries: readonly string[]): TrustedProxies {
  const problems = entries.map(trustedProxyProblem).filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(`trusted proxies: ${problems.join('; ')}`);
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = plainAddress(slash < 0 ? entry : entry.slice(0, slash));
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (slash < 0) list.addAddress(address, type);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), type);
  }
  const none = entries.length === 0;
  // BlockList.check builds a SocketAddress each time; peers are few (the proxies), so their verdicts are kept.
  const verdicts = new Map<string, boolean>();
  return {
    entries: [...entries],
    trusts(address) {
      if (none) return false;
      let ok = verdicts.get(address);
      if (ok !== undefined) return ok;
      const a = plainAddress(address);
      ok = isIPv4(a) ? list.check(a, 'ipv4') : isIPv6(a) && list.check(a, 'ipv6');
      if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
      verdicts.set(address, ok);
      return ok;
    },
  };
}
