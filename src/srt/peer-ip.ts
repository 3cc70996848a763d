// The handshake's 128-bit Peer IP Address field. libsrt writes the address as four 32-bit words,
// each holding four address bytes in little-endian order (the same word reversal it applies to
// strings), so 127.0.0.1 travels as 01 00 00 7F in the first word and IPv6 addresses are reversed
// word by word. An IPv4 address fills word 0 and leaves words 1–3 zero (draft §3.2.1).
import { isIPv4, isIPv6 } from 'node:net';
import { SrtError } from './errors.js';

/** Bytes of the Peer IP Address field. */
export const PEER_IP_LENGTH = 16;

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
