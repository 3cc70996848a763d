// The ONE endpoint grammar for every list an origin registers (rtmp, http, api, srt, rtc, rtsp).
// Accepted (BEHAVIOUR.md §2.4, widened by BEHAVIOUR.md §9.2 #13): "1935", "ip:port", "[v6]:port", "host:port",
// "tcp://:1935", "udp://0.0.0.0:8001", "tcp://[::]:1935", "udp://8001", "udp:1.2.3.4:8001".
// A wildcard or empty host means "the origin record's ip".

export type Transport = 'tcp' | 'udp';

export interface Endpoint {
  transport: Transport;
  /** undefined = use the record's ip (wildcard or no host given) */
  host: string | undefined;
  port: number;
}

export class EndpointError extends Error {
  override readonly name = 'EndpointError';
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '*']);

export function parseEndpoint(text: string, defaultTransport: Transport = 'tcp'): Endpoint {
  const s = text.trim();
  if (s === '') throw new EndpointError('empty endpoint');
  if (s.length > 300) throw new EndpointError('endpoint longer than 300 characters');
  let transport = defaultTransport;
  let rest = s;
  const scheme = /^([a-z][a-z0-9]*):\/\/(.*)$/i.exec(s);
  if (scheme) {
    transport = parseTransport(scheme[1]!, s);
    rest = scheme[2]!;
  } else {
    // Go's "proto:ip:port" form (exactly three colon-separated parts, first one a transport name).
    const parts = s.split(':');
    if (parts.length === 3 && /^(tcp|udp)$/i.test(parts[0]!)) {
      transport = parseTransport(parts[0]!, s);
      rest = `${parts[1]}:${parts[2]}`;
    }
  }
  if (/^\d+$/.test(rest)) return { transport, host: undefined, port: port(rest, s) };
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1 || rest[close + 1] !== ':') throw new EndpointError(`"${s}": expected [ipv6]:port`);
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon === -1) throw new EndpointError(`"${s}": missing port`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) throw new EndpointError(`"${s}": write IPv6 addresses in brackets`);
  }
  if (!WILDCARDS.has(host) && !/^[A-Za-z0-9.:_-]+$/.test(host)) throw new EndpointError(`"${s}": invalid host "${host}"`);
  return { transport, host: WILDCARDS.has(host) ? undefined : host, port: port(portText, s) };
}

function parseTransport(name: string, whole: string): Transport {
  const t = name.toLowerCase();
  if (t === 'tcp' || t === 'udp') return t;
  throw new EndpointError(`"${whole}": unknown transport "${name}" (expected tcp or udp)`);
}

function port(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new EndpointError(`"${whole}": "${text}" is not a port`);
  const n = Number.parseInt(text, 10);
  if (n < 1 || n > 65535) throw new EndpointError(`"${whole}": port ${n} out of range 1-65535`);
  return n;
}

/** Host for dialing/URLs: the endpoint's own host, or the record's ip. */
export function endpointHost(ep: Endpoint, recordIp: string): string {
  return ep.host ?? recordIp;
}

/** `host:port` with IPv6 literals bracketed, for URLs and logs. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
