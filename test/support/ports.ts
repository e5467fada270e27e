// Free loopback ports for tests. A port handed to a child process (Consul, Envoy)
// stays unbound until that process starts, and meanwhile the kernel may give it
// to an outgoing connection if it lies in the ephemeral range (CI saw Consul fail
// with "address already in use" that way). So ports are drawn below that range,
// where only explicit binds land, and checked free for TCP and UDP.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const { low, high } = pickRange();

function pickRange(): { low: number; high: number } {
  let ephemeralLow = 32768;
  let ephemeralHigh = 60999;
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (a && b) [ephemeralLow, ephemeralHigh] = [a, b];
  } catch {
    // not Linux: keep the Linux default range
  }
  if (ephemeralLow - 1 - 10_000 >= 4096) return { low: 10_000, high: ephemeralLow - 1 };
  if (65_535 - ephemeralHigh - 1 >= 4096) return { low: ephemeralHigh + 1, high: 65_535 };
  return { low: 1024, high: 65_535 };
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.unref();
    sock.once('error', () => resolve(false));
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if ((await tcpFree(port)) && (await udpFree(port))) return port;
  }
  throw new Error(`no free loopback port in ${low}-${high} after 1000 tries`);
}

export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
