// Envoy's EDS takes IP addresses only, so host names from the config file or
// Consul are resolved before they reach the catalog.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export async function resolveHost(host: string): Promise<string> {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare)) return bare;
  // Prefer IPv4: loopback services usually listen on 127.0.0.1 only.
  const all = await lookup(bare, { all: true });
  const pick = all.find((a) => a.family === 4) ?? all[0];
  if (!pick) throw new Error(`no address for ${bare}`);
  return pick.address;
}
