// SRT packet header (draft-sharabayko-srt §3): every datagram starts with a 16-byte header whose first
// bit (F) tells data (0) from control (1). The relay forwards datagrams untouched; it only needs to spot
// handshakes and to write a SHUTDOWN of its own. (The full header codec the tests use is in
// test/fixtures/srt-codec.ts.)
import { UINT32_MAX, assertUint } from './errors.js';

/** Bytes in the SRT header; anything shorter is not an SRT packet. */
export const SRT_HEADER_LENGTH = 16;

/** Control Type values (draft §3.2, Table 1). */
export const ControlType = {
  Handshake: 0x0000,
  KeepAlive: 0x0001,
  Ack: 0x0002,
  Nak: 0x0003,
  CongestionWarning: 0x0004,
  Shutdown: 0x0005,
  AckAck: 0x0006,
  DropRequest: 0x0007,
  PeerError: 0x0008,
  UserDefined: 0x7fff,
} as const;

const CONTROL_FLAG = 0x80000000;

/** True when the first word is exactly 0x80000000 (control, type HANDSHAKE, subtype 0) and a header is present. */
export function isHandshakePacket(datagram: Buffer): boolean {
  return datagram.length >= SRT_HEADER_LENGTH && datagram.readUInt32BE(0) === CONTROL_FLAG;
}

/**
 * A SHUTDOWN control packet addressed to `destinationSocketId` (draft §3.2.6). libsrt sends a 4-byte
 * zero CIF with it, and so do we.
 */
export function buildShutdown(destinationSocketId: number, timestamp: number): Buffer {
  assertUint(timestamp, UINT32_MAX, 'timestamp');
  assertUint(destinationSocketId, UINT32_MAX, 'destinationSocketId');
  const out = Buffer.alloc(SRT_HEADER_LENGTH + 4);
  out.writeUInt32BE((CONTROL_FLAG | (ControlType.Shutdown << 16)) >>> 0, 0);
  out.writeUInt32BE(timestamp, 8);
  out.writeUInt32BE(destinationSocketId, 12);
  return out;
}
