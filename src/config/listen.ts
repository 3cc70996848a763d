// Listen addresses as the Go proxy accepts them: "1935" (all interfaces), "127.0.0.1:1935",
// "[::1]:1935", ":1935", "host.name:1935". Port 0 asks the OS for an ephemeral port.

export interface ListenAddress {
  /** undefined = all interfaces */
  host: string | undefined;
  port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const s = text.trim();
  if (s === '') throw new Error('empty listen address');
  if (!s.includes(':')) return { host: undefined, port: parsePort(s, true) };
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close === -1 || s[close + 1] !== ':') throw new Error(`"${s}" is not [ipv6]:port`);
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (!host.includes(':')) throw new Error(`"${host}" in brackets is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) throw new Error(`"${s}": write IPv6 addresses in brackets, e.g. [::1]:1935`);
  }
  if (host !== '' && !/^[A-Za-z0-9.:%_-]+$/.test(host)) throw new Error(`"${host}" is not a host name or address`);
  return { host: host === '' ? undefined : host, port: parsePort(portText, true) };
}

/** Parses a decimal TCP/UDP port; 0 is allowed only where the OS may choose. */
export function parsePort(text: string, allowZero = false): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`"${text}" is not a port number`);
  const port = Number.parseInt(text, 10);
  if (port > 65535 || (port === 0 && !allowZero)) throw new Error(`port ${port} is out of range (1-65535)`);
  return port;
}

export function formatListenAddress(a: ListenAddress): string {
  if (a.host === undefined) return `:${a.port}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
