// CRC-32 (ISO/HDLC, the one STUN FINGERPRINT uses per RFC 8489 §14.7). node:zlib has it natively
// from Node 20.15; older Node 20 releases get a small bitwise version instead.
import * as zlib from 'node:zlib';

/** CRC-32 computed bit by bit (reflected polynomial 0xEDB88320); the fallback, exported for tests. */
export function crc32Bitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc ^= data[i]!;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `data` as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  // The typings promise zlib.crc32, but Node 20.0–20.14 lack it at runtime.
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  return typeof native === 'function' ? native(data) >>> 0 : crc32Bitwise(data);
}
