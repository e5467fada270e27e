// IPv6 literals need brackets wherever a host is followed by a port or put
// in a URL; names and IPv4 addresses do not.

/** `host` as it goes before `:port` or into a URL's authority. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host:port`, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}
