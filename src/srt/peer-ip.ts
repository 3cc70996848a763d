// The handshake's 128-bit Peer IP Address field. libsrt writes the address as four 32-bit words,
// each holding four address bytes in little-endian order (the same word reversal it applies to
// strings), so 127.0.0.1 travels as 01 00 00 7F in the first word and IPv6 addresses are reversed
// word by word. An IPv4 address fills word 0 and leaves words 1–3 zero (draft §3.2.1).
import { isIPv4, isIPv6 } from 'node:net';
import { SrtError } from './errors.js';

/** Bytes of the Peer IP Address field. */
export const PEER_IP_LENGTH = 16;

/** A decoded peer address. */
export interface PeerAddress {
  family: 'IPv4' | 'IPv6';
  address: string;
}

/** Encodes a textual IPv4/IPv6 address into the 16-byte field; throws SrtError('invalid-argument'). */
export function encodePeerIp(address: string): Buffer {
  const bytes = isIPv4(address) ? ipv4Bytes(address) : isIPv6(address) ? ipv6Bytes(address) : undefined;
  if (bytes === undefined) throw new SrtError('invalid-argument', `not an IP address: ${address}`);
  const field = Buffer.alloc(PEER_IP_LENGTH);
  for (let i = 0; i < bytes.length; i++) {
    // Byte i of the address goes to the mirrored slot of its 32-bit word.
    field[(i & ~3) + 3 - (i & 3)] = bytes[i];
  }
  return field;
}

/**
 * Decodes the 16-byte field. Without a `family` hint, words 1–3 all zero means IPv4 (the draft's rule);
 * pass the family of the socket the handshake arrived on to read e.g. `::1` correctly.
 */
export function decodePeerIp(field: Buffer, family?: 'IPv4' | 'IPv6'): PeerAddress {
  if (field.length !== PEER_IP_LENGTH) {
    throw new SrtError('invalid-argument', `peer IP field must be ${PEER_IP_LENGTH} bytes, got ${field.length}`);
  }
  const bytes = new Uint8Array(PEER_IP_LENGTH);
  for (let i = 0; i < PEER_IP_LENGTH; i++) bytes[i] = field[(i & ~3) + 3 - (i & 3)];
  const upperWordsZero = bytes.subarray(4).every((b) => b === 0);
  if (family === 'IPv4' || (family === undefined && upperWordsZero)) {
    return { family: 'IPv4', address: bytes.subarray(0, 4).join('.') };
  }
  return { family: 'IPv6', address: formatIPv6(bytes) };
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map((part) => Number(part));
}

/** RFC 4291 text → 16 bytes; the caller has already checked the syntax with isIPv6. */
function ipv6Bytes(text: string): number[] {
  const address = text.split('%')[0]; // a zone id names a local interface; it is not on the wire
  const groups: number[] = [];
  const pushGroups = (part: string): void => {
    if (part === '') return;
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = ipv4Bytes(piece);
        groups.push((a << 8) | b, (c << 8) | d);
      } else {
        groups.push(parseInt(piece, 16));
      }
    }
  };
  const gap = address.indexOf('::');
  let head: number[] = [];
  if (gap >= 0) {
    pushGroups(address.slice(0, gap));
    head = groups.splice(0);
    pushGroups(address.slice(gap + 2));
  } else {
    pushGroups(address);
  }
  const zeros = new Array<number>(8 - head.length - groups.length).fill(0);
  const all = [...head, ...zeros, ...groups];
  return all.flatMap((group) => [group >>> 8, group & 0xff]);
}

/** 16 bytes → RFC 5952 text (lower case, longest run of ≥2 zero groups shortened to ::, IPv4-mapped dotted). */
function formatIPv6(bytes: Uint8Array): string {
  const mappedPrefix = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mappedPrefix) return `::ffff:${bytes.subarray(12).join('.')}`; // how Node reports IPv4 peers on IPv6 sockets
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (list: number[]): string => list.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
