// Who a request comes from, for the per-client and per-source session limits
// (sessions/session-limits.ts) and the per-client bound on calls in flight
// (pool/process-pool.ts).
//
// - The source is the peer's address or, when the peer is a trusted proxy
//   (trusted-proxies.ts), the last hop of X-Forwarded-For: the address that
//   proxy (Envoy, whose listener appends it: control-plane/envoy/listener.ts)
//   saw. Only the last hop: the ones before it are whatever the client wrote.
//   A peer that is not trusted is its own source whatever it sends, so an agent
//   that reaches the adapter around the proxy cannot choose its source. An
//   IPv6 source counts by its /64 (one host usually has all of one).
// - The client is a verified identity when there is one, else the source.
//   `ClientIdentity` must return only what was verified, never a header a
//   client could set itself: `proxiedAgentIdentity` reads the agent identity
//   header only from a trusted proxy, because Envoy's listener removes every
//   copy an agent sends and sets it from a verified token alone
//   (control-plane/envoy/agent-auth.ts).

import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { AGENT_IDENTITY_HEADER } from '../../lib/mesh-contracts.js';
import type { SessionOrigin } from '../sessions/session-limits.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** The verified identity of a request's client, or undefined (none configured, or none verified). */
export type ClientIdentity = (req: IncomingMessage) => string | undefined;

export interface ClientOriginOptions {
  /** Peers whose X-Forwarded-For last hop is believed. */
  readonly proxies: TrustedProxies;
  readonly identity?: ClientIdentity;
}

/** Longer than any subject a token issuer writes: a longer value is not taken for an identity. */
const MAX_IDENTITY_LENGTH = 512;

/** The verified agent identity Envoy passed on, believed from trusted proxies only. */
export function proxiedAgentIdentity(proxies: TrustedProxies): ClientIdentity {
  return (req) => {
    if (!proxies.trusts(req.socket.remoteAddress ?? '')) return undefined;
    const value = req.headers[AGENT_IDENTITY_HEADER];
    return typeof value === 'string' && value !== '' && value.length <= MAX_IDENTITY_LENGTH ? value : undefined;
  };
}

export function clientOrigin(req: IncomingMessage, opts: ClientOriginOptions): SessionOrigin {
  const source = sourceOf(req, opts.proxies);
  const identity = opts.identity?.(req);
  return { client: identity !== undefined && identity !== '' ? `id:${identity}` : `addr:${source}`, source };
}

/**
 * The last source worked out on a connection, with what it was worked out
 * from. A connection's peer never changes and a proxy's connection carries
 * one agent's requests after another, so the check, the parse and the /64 of
 * every request are, most of the time, those of the request before it.
 */
interface LastSource {
  readonly proxies: TrustedProxies;
  readonly xff: string | undefined;
  readonly source: string;
}
const lastSources = new WeakMap<object, LastSource>();

function sourceOf(req: IncomingMessage, proxies: TrustedProxies): string {
  const xff = req.headers['x-forwarded-for'];
  // Several headers are one list, in order (RFC 7230 §3.2.2).
  const list = Array.isArray(xff) ? xff.join(',') : xff;
  const socket = req.socket;
  const last = lastSources.get(socket);
  if (last !== undefined && last.proxies === proxies && last.xff === list) return last.source;
  const source = sourceKey(sourceAddress(req.socket.remoteAddress ?? '', list, proxies));
  lastSources.set(socket, { proxies, xff: list, source });
  return source;
}

function sourceAddress(peer: string, list: string | undefined, proxies: TrustedProxies): string {
  if (!proxies.trusts(peer)) return peer;
  if (list === undefined) return peer;
  const last = list.slice(list.lastIndexOf(',') + 1).trim();
  return isIPv4(last) || isIPv6(last) ? last : peer;
}

/** An address as the limits count it: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function sourceKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  let a = address.toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  // An embedded IPv4 tail is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4 !== null) {
    const [b1, b2, b3, b4] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b1 << 8) | b2).toString(16)}:${((b3 << 8) | b4).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? (a.split('::') as [string, string]) : [a, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => '0');
  return [...h, ...fill, ...t].map((g) => g.replace(/^0+(?=.)/, ''));
}
