// Which addresses the proxy may talk to or take orders from. Origins are dialled at addresses they
// registered themselves, so a registration must not turn the proxy into a way to reach addresses
// nobody should dial (the unspecified address, broadcast, multicast, link-local ranges such as the
// cloud metadata service). Operators may narrow origins (and system API callers) to CIDR lists.
// The same check runs when an origin registers and again before it is dialled: a host name may
// resolve to something else by then.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** An address range; IPv4 ranges (and IPv4-mapped IPv6 addresses) are held as 4 bytes. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
  text: string;
}

export class CidrError extends Error {
  override name = 'CidrError';
}

/** An origin address the policy refuses; the message says why (for the register answer and logs). */
export class OriginAddressError extends Error {
  override name = 'OriginAddressError';
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`origin address ${host} refused: ${reason}`);
  }
}

/** The address bytes of an IP literal (IPv4-mapped IPv6 unwrapped to 4 bytes); undefined otherwise. */
export function ipBytes(text: string): Uint8Array | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const kind = isIP(s);
  if (kind === 4) return Uint8Array.from(s.split('.').map(Number));
  if (kind !== 6) return undefined;
  const v6 = ipv6Bytes(s);
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

function ipv6Bytes(s: string): Uint8Array {
  // isIP() has validated the syntax; a dotted IPv4 tail counts as two groups.
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** `ip/prefix` or a bare IP (a single address). */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const ipText = slash === -1 ? t : t.slice(0, slash);
  const bytes = ipBytes(ipText);
  if (!bytes) throw new CidrError(`"${t}" is not an IP address or CIDR range`);
  // An IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) becomes its IPv4 twin.
  const unmapped = isIP(ipText.replace(/^\[|\]$/g, '')) === 6 && bytes.length === 4 ? 96 : 0;
  let prefix = bytes.length * 8;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) throw new CidrError(`"${t}": prefix "${p}" is not a number`);
    prefix = Number(p) - unmapped;
    if (prefix < 0 || prefix > bytes.length * 8) throw new CidrError(`"${t}": prefix out of range`);
  }
  return { bytes, prefix, text: t };
}

/** A comma-separated list of ranges; empty text means "no list" (undefined). */
export function parseCidrList(text: string): Cidr[] | undefined {
  if (text.trim() === '') return undefined;
  return text.split(',').map((item) => {
    if (item.trim() === '') throw new CidrError('empty item in the list');
    return parseCidr(item);
  });
}

export function inCidr(bytes: Uint8Array, c: Cidr): boolean {
  if (bytes.length !== c.bytes.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

export function inAnyCidr(bytes: Uint8Array, list: readonly Cidr[]): boolean {
  return list.some((c) => inCidr(bytes, c));
}

/** Ranges no origin may use unless the operator allows them explicitly. */
const REFUSED: readonly (readonly [Cidr, string])[] = [
  ['0.0.0.0/8', 'unspecified address'],
  ['::/128', 'unspecified address'],
  ['255.255.255.255/32', 'broadcast address'],
  ['224.0.0.0/4', 'multicast address'],
  ['ff00::/8', 'multicast address'],
  ['240.0.0.0/4', 'reserved address'],
  ['169.254.0.0/16', 'link-local address (includes cloud metadata)'],
  ['fe80::/10', 'link-local address'],
  // Metadata services outside the link-local ranges.
  ['fd00:ec2::254/128', 'cloud metadata address'],
  ['100.100.100.200/32', 'cloud metadata address'],
].map(([range, reason]) => [parseCidr(range!), reason!] as const);

/**
 * Why an IP literal may not be an origin address, or undefined when it may. With an allow list,
 * only addresses in it pass (and any address in it passes); without one, the ranges above are refused.
 */
export function originIpRefusal(ip: string, allow: readonly Cidr[] | undefined): string | undefined {
  const bytes = ipBytes(ip);
  if (!bytes) return 'not an IP address';
  if (allow) return inAnyCidr(bytes, allow) ? undefined : 'outside PROXY_ORIGIN_ALLOW_CIDRS';
  for (const [range, reason] of REFUSED) if (inCidr(bytes, range)) return reason;
  return undefined;
}

export interface OriginAddressPolicy {
  /** PROXY_ORIGIN_ALLOW_CIDRS; undefined = everything but the refused ranges. */
  allow: readonly Cidr[] | undefined;
  /** Resolves a host name to all its addresses (tests inject one). */
  lookup?: (host: string) => Promise<string[]>;
}

const defaultLookup = async (host: string): Promise<string[]> => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Vets an origin host (IP literal or name) and returns the address to dial. A name must resolve,
 * and every address it resolves to must pass (one bad record is enough to refuse: the dialer might
 * pick it). Call it before every dial and dial the address it returns, so a name that changes its
 * answer later cannot slip past. Throws OriginAddressError.
 */
export async function vetOriginHost(host: string, policy: OriginAddressPolicy): Promise<string> {
  if (ipBytes(host)) {
    const reason = originIpRefusal(host, policy.allow);
    if (reason) throw new OriginAddressError(host, reason);
    return host.replace(/^\[|\]$/g, '');
  }
  let addresses: string[];
  try {
    addresses = await (policy.lookup ?? defaultLookup)(host);
  } catch (err) {
    throw new OriginAddressError(host, `cannot resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (addresses.length === 0) throw new OriginAddressError(host, 'resolves to no address');
  for (const a of addresses) {
    const reason = originIpRefusal(a, policy.allow);
    if (reason) throw new OriginAddressError(host, `resolves to ${a}: ${reason}`);
  }
  return addresses[0]!;
}

/** True when a client address is in the list (or there is no list). */
export function clientAllowed(remoteAddress: string | undefined, allow: readonly Cidr[] | undefined): boolean {
  if (!allow) return true;
  const bytes = ipBytes(remoteAddress ?? '');
  return bytes !== undefined && inAnyCidr(bytes, allow);
}

/** True for loopback addresses (127.0.0.0/8, ::1) and names that mean them. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  if (host === 'localhost') return true;
  const bytes = ipBytes(host);
  if (!bytes) return false;
  return bytes.length === 4 ? bytes[0] === 127 : bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}
