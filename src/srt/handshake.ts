// Handshake control packet codec (draft §3.2.1 and §4.3; libsrt docs/features/handshake.md).
// One layout covers HSv4 and HSv5: the HSv4 32-bit "socket type" (UDT_DGRAM = 2) is the same bytes as
// HSv5's Encryption Field 0 / Extension Field 2. Fields are kept whole (peer IP raw, extensions raw)
// so encodeHandshake(parseHandshake(x)) reproduces x byte for byte.
import { SrtError, UINT16_MAX, UINT32_MAX, assertUint } from './errors.js';
import { extensionsByteLength, parseExtensions, writeExtensions, type HandshakeExtension } from './extensions.js';
import { SRT_HEADER_LENGTH, isHandshakePacket } from './packet.js';
import { PEER_IP_LENGTH, encodePeerIp } from './peer-ip.js';

/** Bytes of the fixed handshake CIF (Version through Peer IP Address). */
export const HANDSHAKE_CIF_LENGTH = 48;
/** A handshake datagram is at least the header plus the fixed CIF. */
export const HANDSHAKE_MIN_LENGTH = SRT_HEADER_LENGTH + HANDSHAKE_CIF_LENGTH;
/** Extension Field value of an HSv5 listener's INDUCTION response. */
export const SRT_MAGIC_CODE = 0x4a17;
/** HSv4 socket type (the whole 32-bit Encryption/Extension word) a caller's INDUCTION carries. */
export const UDT_DGRAM = 2;

/** Byte offsets of the handshake fields inside the datagram (SRT header included). */
export const HandshakeOffset = {
  Version: 16,
  Encryption: 20,
  Extension: 22,
  InitialSequenceNumber: 24,
  Mtu: 28,
  FlowWindow: 32,
  HandshakeType: 36,
  SocketId: 40,
  SynCookie: 44,
  PeerIp: 48,
  Extensions: 64,
} as const;

/** Handshake Type values (draft Table 4); values from 1000 up are rejections. */
export const HandshakeType = {
  WaveAHand: 0x00000000,
  Induction: 0x00000001,
  Done: 0xfffffffd,
  Agreement: 0xfffffffe,
  Conclusion: 0xffffffff,
} as const;

/** Encryption Field values (draft Table 2). */
export const EncryptionField = { None: 0, Aes128: 2, Aes192: 3, Aes256: 4 } as const;

/** On the wire a rejection's Handshake Type is the API reason code plus 1000. */
export const REJECTION_WIRE_OFFSET = 1000;

/** SRT-internal rejection reasons as Handshake Type values (draft Table 7: SRT_REJ_* + 1000). */
export const RejectionCode = {
  Unknown: 1000,
  System: 1001,
  Peer: 1002,
  Resource: 1003,
  Rogue: 1004,
  Backlog: 1005,
  InternalProgramError: 1006,
  Close: 1007,
  Version: 1008,
  RendezvousCookie: 1009,
  BadSecret: 1010,
  Unsecure: 1011,
  MessageApi: 1012,
  Congestion: 1013,
  Filter: 1014,
  Group: 1015,
  Timeout: 1016,
  Crypto: 1017,
} as const;

/**
 * Application (access-control) rejection reasons as Handshake Type values: libsrt's SRT_REJX_* API
 * codes (1000–1999, HTTP-like) plus the 1000 wire offset. NotFound (API 1404) travels as 2404.
 */
export const AccessRejectionCode = {
  Fallback: 2000,
  KeyNotSupported: 2001,
  FilePath: 2002,
  HostNotFound: 2003,
  BadRequest: 2400,
  Unauthorized: 2401,
  Overload: 2402,
  Forbidden: 2403,
  NotFound: 2404,
  BadMode: 2405,
  Unacceptable: 2406,
  Conflict: 2409,
  UnsupportedMedia: 2415,
  Locked: 2423,
  FailedDependency: 2424,
  InternalServerError: 2500,
  Unimplemented: 2501,
  Gateway: 2502,
  Down: 2503,
  Version: 2505,
  NoRoom: 2507,
} as const;

/** A parsed handshake control packet. */
export interface Handshake {
  /** Header word 1; unused by handshakes, kept for byte-exact re-encoding. */
  typeSpecificInfo: number;
  timestamp: number;
  destinationSocketId: number;
  /** 4 (caller INDUCTION, HSv4) or 5 (HSv5). */
  version: number;
  /** 16-bit Encryption Field (EncryptionField). */
  encryption: number;
  /** 16-bit Extension Field: 2 in a caller INDUCTION, SRT_MAGIC_CODE in the reply, ExtensionFlag bits in CONCLUSION. */
  extension: number;
  initialSequenceNumber: number;
  mtu: number;
  flowWindow: number;
  /** HandshakeType, or a rejection code (>= 1000). */
  handshakeType: number;
  /** SRT Socket ID of the sender. */
  socketId: number;
  synCookie: number;
  /** The raw 16-byte Peer IP Address field (decode with decodePeerIp). */
  peerIp: Buffer;
  /** Extension blocks after the fixed CIF, in wire order. */
  extensions: HandshakeExtension[];
}

/**
 * Parses a handshake datagram. Throws SrtError: 'truncated' under 64 bytes, 'not-handshake' when a
 * full header's first word is not 0x80000000, 'bad-extension' when the extension blocks do not tile the rest exactly.
 * peerIp and extension contents are views into the datagram.
 */
export function parseHandshake(datagram: Buffer): Handshake {
  assertHandshakeDatagram(datagram);
  return {
    typeSpecificInfo: datagram.readUInt32BE(4),
    timestamp: datagram.readUInt32BE(8),
    destinationSocketId: datagram.readUInt32BE(12),
    version: datagram.readUInt32BE(HandshakeOffset.Version),
    encryption: datagram.readUInt16BE(HandshakeOffset.Encryption),
    extension: datagram.readUInt16BE(HandshakeOffset.Extension),
    initialSequenceNumber: datagram.readUInt32BE(HandshakeOffset.InitialSequenceNumber),
    mtu: datagram.readUInt32BE(HandshakeOffset.Mtu),
    flowWindow: datagram.readUInt32BE(HandshakeOffset.FlowWindow),
    handshakeType: datagram.readUInt32BE(HandshakeOffset.HandshakeType),
    socketId: datagram.readUInt32BE(HandshakeOffset.SocketId),
    synCookie: datagram.readUInt32BE(HandshakeOffset.SynCookie),
    peerIp: datagram.subarray(HandshakeOffset.PeerIp, HandshakeOffset.PeerIp + PEER_IP_LENGTH),
    extensions: parseExtensions(datagram.subarray(HandshakeOffset.Extensions)),
  };
}

/** Throws 'truncated' under 16 or 64 bytes and 'not-handshake' when the first word is not 0x80000000. */
function assertHandshakeDatagram(datagram: Buffer): void {
  if (datagram.length >= SRT_HEADER_LENGTH && !isHandshakePacket(datagram)) {
    throw new SrtError('not-handshake', 'not an SRT handshake control packet');
  }
  if (datagram.length < HANDSHAKE_MIN_LENGTH) {
    throw new SrtError('truncated', `handshake needs ${HANDSHAKE_MIN_LENGTH} bytes, got ${datagram.length}`);
  }
}

/** Serialises a handshake; throws SrtError('invalid-argument') on out-of-range fields or blocks. */
export function encodeHandshake(handshake: Handshake): Buffer {
  const u32 = (value: number, what: string): number => {
    assertUint(value, UINT32_MAX, what);
    return value;
  };
  assertUint(handshake.encryption, UINT16_MAX, 'encryption');
  assertUint(handshake.extension, UINT16_MAX, 'extension');
  if (handshake.peerIp.length !== PEER_IP_LENGTH) {
    throw new SrtError('invalid-argument', `peerIp must be ${PEER_IP_LENGTH} bytes, got ${handshake.peerIp.length}`);
  }
  const out = Buffer.alloc(HANDSHAKE_MIN_LENGTH + extensionsByteLength(handshake.extensions));
  out.writeUInt32BE(0x80000000, 0);
  out.writeUInt32BE(u32(handshake.typeSpecificInfo, 'typeSpecificInfo'), 4);
  out.writeUInt32BE(u32(handshake.timestamp, 'timestamp'), 8);
  out.writeUInt32BE(u32(handshake.destinationSocketId, 'destinationSocketId'), 12);
  out.writeUInt32BE(u32(handshake.version, 'version'), HandshakeOffset.Version);
  out.writeUInt16BE(handshake.encryption, HandshakeOffset.Encryption);
  out.writeUInt16BE(handshake.extension, HandshakeOffset.Extension);
  out.writeUInt32BE(u32(handshake.initialSequenceNumber, 'initialSequenceNumber'), HandshakeOffset.InitialSequenceNumber);
  out.writeUInt32BE(u32(handshake.mtu, 'mtu'), HandshakeOffset.Mtu);
  out.writeUInt32BE(u32(handshake.flowWindow, 'flowWindow'), HandshakeOffset.FlowWindow);
  out.writeUInt32BE(u32(handshake.handshakeType, 'handshakeType'), HandshakeOffset.HandshakeType);
  out.writeUInt32BE(u32(handshake.socketId, 'socketId'), HandshakeOffset.SocketId);
  out.writeUInt32BE(u32(handshake.synCookie, 'synCookie'), HandshakeOffset.SynCookie);
  handshake.peerIp.copy(out, HandshakeOffset.PeerIp);
  writeExtensions(handshake.extensions, out, HandshakeOffset.Extensions);
  return out;
}

/** The fields a listener needs to classify a handshake, read without walking the extensions. */
export interface HandshakeSummary {
  version: number;
  handshakeType: number;
  socketId: number;
  synCookie: number;
  destinationSocketId: number;
}

/** Reads the classification fields; undefined when the datagram is not a handshake of at least 64 bytes. */
export function peekHandshake(datagram: Buffer): HandshakeSummary | undefined {
  if (!isHandshakePacket(datagram) || datagram.length < HANDSHAKE_MIN_LENGTH) return undefined;
  return {
    version: datagram.readUInt32BE(HandshakeOffset.Version),
    handshakeType: datagram.readUInt32BE(HandshakeOffset.HandshakeType),
    socketId: datagram.readUInt32BE(HandshakeOffset.SocketId),
    synCookie: datagram.readUInt32BE(HandshakeOffset.SynCookie),
    destinationSocketId: datagram.readUInt32BE(12),
  };
}

/** Fields patchHandshake can replace. */
export interface HandshakePatch {
  synCookie?: number;
  socketId?: number;
  destinationSocketId?: number;
  timestamp?: number;
  /** New Peer IP Address (textual IPv4/IPv6): a relay writes the address as the receiver's peer sees it. */
  peerAddress?: string;
}

/**
 * Returns a copy of a handshake datagram with the given fields replaced and everything else
 * (extensions included) untouched. Throws SrtError for non-handshakes, short datagrams or bad values.
 */
export function patchHandshake(datagram: Buffer, patch: HandshakePatch): Buffer {
  assertHandshakeDatagram(datagram);
  const fields: [number | undefined, number, string][] = [
    [patch.synCookie, HandshakeOffset.SynCookie, 'synCookie'],
    [patch.socketId, HandshakeOffset.SocketId, 'socketId'],
    [patch.destinationSocketId, 12, 'destinationSocketId'],
    [patch.timestamp, 8, 'timestamp'],
  ];
  for (const [value, , what] of fields) if (value !== undefined) assertUint(value, UINT32_MAX, what);
  const peerIp = patch.peerAddress === undefined ? undefined : encodePeerIp(patch.peerAddress);
  const out = Buffer.from(datagram);
  for (const [value, offset] of fields) if (value !== undefined) out.writeUInt32BE(value, offset);
  peerIp?.copy(out, HandshakeOffset.PeerIp);
  return out;
}

/** True when a Handshake Type is a rejection (a signed 32-bit value of 1000 or more, as libsrt reads it). */
export function isRejection(handshakeType: number): boolean {
  return handshakeType >= REJECTION_WIRE_OFFSET && handshakeType <= 0x7fffffff;
}

const HANDSHAKE_TYPE_NAMES = new Map<number, string>([
  ...Object.entries(HandshakeType).map(([name, value]): [number, string] => [value, name]),
  ...Object.entries(RejectionCode).map(([name, value]): [number, string] => [value, `Reject${name}`]),
  ...Object.entries(AccessRejectionCode).map(([name, value]): [number, string] => [value, `RejectAccess${name}`]),
]);

/** Human-readable Handshake Type for logs ("Induction", "RejectAccessNotFound", "Reject(3456)", "0x00000042"). */
export function handshakeTypeName(handshakeType: number): string {
  const known = HANDSHAKE_TYPE_NAMES.get(handshakeType);
  if (known !== undefined) return known;
  if (isRejection(handshakeType)) return `Reject(${handshakeType})`;
  return `0x${handshakeType.toString(16).padStart(8, '0')}`;
}

/** The Stream ID of the first SID block, or undefined when there is none. */
export function streamIdOf(handshake: Handshake): string | undefined {
  for (const block of handshake.extensions) if (block.kind === 'sid') return block.streamId;
  return undefined;
}

/** What a caller puts in its first INDUCTION. */
export interface InductionRequestOptions {
  socketId: number;
  initialSequenceNumber: number;
  timestamp: number;
  /** The listener's address as the caller sees it. */
  peerAddress: string;
  mtu?: number;
  flowWindow?: number;
}

/** Builds a caller's INDUCTION as libsrt sends it: version 4, UDT_DGRAM, destination 0, cookie 0, 64 bytes. */
export function buildInductionRequest(options: InductionRequestOptions): Buffer {
  return encodeHandshake({
    typeSpecificInfo: 0,
    timestamp: options.timestamp,
    destinationSocketId: 0,
    version: 4,
    encryption: 0,
    extension: UDT_DGRAM,
    initialSequenceNumber: options.initialSequenceNumber,
    mtu: options.mtu ?? 1500,
    flowWindow: options.flowWindow ?? 8192,
    handshakeType: HandshakeType.Induction,
    socketId: options.socketId,
    synCookie: 0,
    peerIp: encodePeerIp(options.peerAddress),
    extensions: [],
  });
}

/** What a listener puts in its INDUCTION response. */
export interface InductionResponseOptions {
  /** The caller's INDUCTION. */
  request: Handshake;
  /** The listener-side socket id to announce. */
  socketId: number;
  synCookie: number;
  timestamp: number;
  /** The caller's address as the listener sees it. */
  peerAddress: string;
  /** Advertised cipher (EncryptionField); 0 by default. */
  encryption?: number;
}

/**
 * Builds an HSv5 listener's INDUCTION response (draft §4.3.1.1): version 5, SRT_MAGIC_CODE,
 * ISN/MTU/flow window echoed, addressed to the caller's socket id, no extensions.
 */
export function buildInductionResponse(options: InductionResponseOptions): Buffer {
  const { request } = options;
  return encodeHandshake({
    typeSpecificInfo: 0,
    timestamp: options.timestamp,
    destinationSocketId: request.socketId,
    version: 5,
    encryption: options.encryption ?? EncryptionField.None,
    extension: SRT_MAGIC_CODE,
    initialSequenceNumber: request.initialSequenceNumber,
    mtu: request.mtu,
    flowWindow: request.flowWindow,
    handshakeType: HandshakeType.Induction,
    socketId: options.socketId,
    synCookie: options.synCookie,
    peerIp: encodePeerIp(options.peerAddress),
    extensions: [],
  });
}

/** What a listener puts in a rejection. */
export interface RejectionOptions {
  /** The handshake being refused. */
  request: Handshake;
  /** Wire code: a RejectionCode / AccessRejectionCode value (>= 1000). */
  reason: number;
  timestamp: number;
  /** The caller's address as the listener sees it. */
  peerAddress: string;
  /** The listener-side socket id; 0 by default (no socket was created). */
  socketId?: number;
}

/**
 * Builds a rejection: the request's version, ISN, MTU and flow window and cookie echoed, Handshake Type =
 * reason, no extensions, addressed to the caller's socket id. Throws SrtError('invalid-argument') for a
 * reason below 1000. Use AccessRejectionCode.NotFound (2404) for an unknown stream, BadRequest (2400) for
 * a missing/unparsable stream id, RejectionCode.Version (1008) for an HSv4 caller.
 */
export function buildRejection(options: RejectionOptions): Buffer {
  if (!isRejection(options.reason)) {
    throw new SrtError('invalid-argument', `rejection reason must be in [1000, 0x7fffffff], got ${options.reason}`);
  }
  const { request } = options;
  return encodeHandshake({
    typeSpecificInfo: 0,
    timestamp: options.timestamp,
    destinationSocketId: request.socketId,
    version: request.version,
    encryption: 0,
    extension: 0,
    initialSequenceNumber: request.initialSequenceNumber,
    mtu: request.mtu,
    flowWindow: request.flowWindow,
    handshakeType: options.reason,
    socketId: options.socketId ?? 0,
    synCookie: request.synCookie,
    peerIp: encodePeerIp(options.peerAddress),
    extensions: [],
  });
}
