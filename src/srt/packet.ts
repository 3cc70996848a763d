// SRT packet header codec (draft-sharabayko-srt §3): every datagram starts with a 16-byte header
// whose first bit (F) tells data (0) from control (1). Only the header is interpreted here;
// payloads and CIFs are returned as views so the relay never copies.
import { SrtError, UINT16_MAX, UINT32_MAX, assertUint } from './errors.js';

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

/** Packet Position Flag (PP) values of a data packet (draft §3.1). */
export const PacketPosition = { Middle: 0b00, Last: 0b01, First: 0b10, Single: 0b11 } as const;

/** A data packet (F = 0). */
export interface SrtDataPacket {
  kind: 'data';
  /** 31-bit packet sequence number. */
  sequenceNumber: number;
  /** PP: 2 bits, see PacketPosition. */
  packetPosition: number;
  /** O: deliver in order. */
  inOrder: boolean;
  /** KK: 0 clear, 1 even key, 2 odd key. */
  encryptionKey: number;
  /** R: this is a retransmission. */
  retransmitted: boolean;
  /** 26-bit message number. */
  messageNumber: number;
  timestamp: number;
  destinationSocketId: number;
  /** Everything after the header (a view into the datagram). */
  payload: Buffer;
}

/** A control packet (F = 1). */
export interface SrtControlPacket {
  kind: 'control';
  /** 15-bit Control Type, see ControlType. */
  controlType: number;
  /** 16-bit Subtype (the extended type of user-defined packets). */
  subtype: number;
  /** 32-bit Type-specific Information (ACK number, drop message number, error code...). */
  typeSpecificInfo: number;
  timestamp: number;
  destinationSocketId: number;
  /** Control Information Field: everything after the header (a view into the datagram). */
  cif: Buffer;
}

/** Any SRT packet. */
export type SrtPacket = SrtDataPacket | SrtControlPacket;

const CONTROL_FLAG = 0x80000000;

/** Splits a datagram into header fields and payload/CIF; throws SrtError('truncated') under 16 bytes. */
export function parsePacket(datagram: Buffer): SrtPacket {
  if (datagram.length < SRT_HEADER_LENGTH) {
    throw new SrtError('truncated', `SRT packet needs ${SRT_HEADER_LENGTH} bytes, got ${datagram.length}`);
  }
  const word0 = datagram.readUInt32BE(0);
  const word1 = datagram.readUInt32BE(4);
  const timestamp = datagram.readUInt32BE(8);
  const destinationSocketId = datagram.readUInt32BE(12);
  const rest = datagram.subarray(SRT_HEADER_LENGTH);
  if ((word0 & CONTROL_FLAG) !== 0) {
    return {
      kind: 'control',
      controlType: (word0 >>> 16) & 0x7fff,
      subtype: word0 & 0xffff,
      typeSpecificInfo: word1,
      timestamp,
      destinationSocketId,
      cif: rest,
    };
  }
  return {
    kind: 'data',
    sequenceNumber: word0 & 0x7fffffff,
    packetPosition: word1 >>> 30,
    inOrder: ((word1 >>> 29) & 1) === 1,
    encryptionKey: (word1 >>> 27) & 0b11,
    retransmitted: ((word1 >>> 26) & 1) === 1,
    messageNumber: word1 & 0x03ffffff,
    timestamp,
    destinationSocketId,
    payload: rest,
  };
}

/** Serialises a packet (header + payload/CIF); throws SrtError('invalid-argument') on out-of-range fields. */
export function encodePacket(packet: SrtPacket): Buffer {
  assertUint(packet.timestamp, UINT32_MAX, 'timestamp');
  assertUint(packet.destinationSocketId, UINT32_MAX, 'destinationSocketId');
  let word0: number;
  let word1: number;
  let body: Buffer;
  if (packet.kind === 'control') {
    assertUint(packet.controlType, 0x7fff, 'controlType');
    assertUint(packet.subtype, UINT16_MAX, 'subtype');
    assertUint(packet.typeSpecificInfo, UINT32_MAX, 'typeSpecificInfo');
    word0 = (CONTROL_FLAG | (packet.controlType << 16) | packet.subtype) >>> 0;
    word1 = packet.typeSpecificInfo;
    body = packet.cif;
  } else {
    assertUint(packet.sequenceNumber, 0x7fffffff, 'sequenceNumber');
    assertUint(packet.packetPosition, 0b11, 'packetPosition');
    assertUint(packet.encryptionKey, 0b11, 'encryptionKey');
    assertUint(packet.messageNumber, 0x03ffffff, 'messageNumber');
    word0 = packet.sequenceNumber;
    word1 =
      ((packet.packetPosition << 30) |
        ((packet.inOrder ? 1 : 0) << 29) |
        (packet.encryptionKey << 27) |
        ((packet.retransmitted ? 1 : 0) << 26) |
        packet.messageNumber) >>>
      0;
    body = packet.payload;
  }
  const out = Buffer.allocUnsafe(SRT_HEADER_LENGTH + body.length);
  out.writeUInt32BE(word0, 0);
  out.writeUInt32BE(word1, 4);
  out.writeUInt32BE(packet.timestamp, 8);
  out.writeUInt32BE(packet.destinationSocketId, 12);
  body.copy(out, SRT_HEADER_LENGTH);
  return out;
}

/** 'data' or 'control' from the F bit, or undefined when the datagram is under 16 bytes. */
export function peekPacketKind(datagram: Buffer): 'data' | 'control' | undefined {
  if (datagram.length < SRT_HEADER_LENGTH) return undefined;
  return (datagram[0] & 0x80) !== 0 ? 'control' : 'data';
}

/** Control Type of a control packet; undefined for data packets and datagrams under 16 bytes. */
export function peekControlType(datagram: Buffer): number | undefined {
  if (peekPacketKind(datagram) !== 'control') return undefined;
  return datagram.readUInt16BE(0) & 0x7fff;
}

/** Destination Socket ID (bytes 12–15); undefined when the datagram is under 16 bytes. */
export function peekDestinationSocketId(datagram: Buffer): number | undefined {
  if (datagram.length < SRT_HEADER_LENGTH) return undefined;
  return datagram.readUInt32BE(12);
}

/** True when the first word is exactly 0x80000000 (control, type HANDSHAKE, subtype 0) and a header is present. */
export function isHandshakePacket(datagram: Buffer): boolean {
  return datagram.length >= SRT_HEADER_LENGTH && datagram.readUInt32BE(0) === CONTROL_FLAG;
}

/** Overwrites the Destination Socket ID in place; throws SrtError on a short datagram or a bad id. */
export function writeDestinationSocketId(datagram: Buffer, socketId: number): void {
  if (datagram.length < SRT_HEADER_LENGTH) {
    throw new SrtError('truncated', `SRT packet needs ${SRT_HEADER_LENGTH} bytes, got ${datagram.length}`);
  }
  assertUint(socketId, UINT32_MAX, 'socketId');
  datagram.writeUInt32BE(socketId, 12);
}

const CONTROL_TYPE_NAMES = new Map<number, string>(
  Object.entries(ControlType).map(([name, value]) => [value, name]),
);

/** Human-readable control type for logs ("Handshake", "Shutdown", "0x0042" when unknown). */
export function controlTypeName(controlType: number): string {
  return CONTROL_TYPE_NAMES.get(controlType) ?? `0x${controlType.toString(16).padStart(4, '0')}`;
}

/**
 * A SHUTDOWN control packet addressed to `destinationSocketId` (draft §3.2.6). libsrt sends a 4-byte
 * zero CIF with it, and so do we.
 */
export function buildShutdown(destinationSocketId: number, timestamp: number): Buffer {
  return encodePacket({
    kind: 'control',
    controlType: ControlType.Shutdown,
    subtype: 0,
    typeSpecificInfo: 0,
    timestamp,
    destinationSocketId,
    cif: Buffer.alloc(4),
  });
}
