// STUN message codec (RFC 8489) with the ICE attributes of RFC 8445 §16.1. The relay only needs the
// USERNAME of binding requests, but a remote peer controls every byte, so every length is checked
// before it is read and anything malformed throws StunError (never a RangeError from a Buffer read).
import { isUtf8 } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from './crc32.js';

/** Bytes in the fixed STUN header. */
export const STUN_HEADER_LENGTH = 20;
/** The magic cookie every RFC 5389/8489 message carries in bytes 4..7. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** XORed into the CRC-32 to form FINGERPRINT (the bytes "STUN"). */
export const STUN_FINGERPRINT_XOR = 0x5354554e;
/** Longest USERNAME a parser must accept (RFC 8489 §14.3, for RFC 5389 compatibility). */
export const STUN_USERNAME_MAX_PARSE = 763;
/** Longest USERNAME an agent may send: "fewer than 509 bytes" (RFC 8489 §14.3). */
export const STUN_USERNAME_MAX_ENCODE = 508;
/** Largest value of the 16-bit length field that is a multiple of 4. */
const MAX_BODY_LENGTH = 0xfffc;

/** Attribute types used by ICE and by the tests (RFC 8489 §18.3, RFC 8445 §16.1). */
export const StunAttributeType = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  XorMappedAddress: 0x0020,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  Software: 0x8022,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
} as const;

/** STUN methods (RFC 8489 §18.2). */
export const StunMethod = { Binding: 0x001 } as const;

/** The two class bits of the message type (RFC 8489 §5). */
export type StunMessageClass = 'request' | 'indication' | 'success-response' | 'error-response';

const CLASS_BY_BITS: readonly StunMessageClass[] = ['request', 'indication', 'success-response', 'error-response'];

/** Why bytes were refused as a STUN message, or an encoder argument was refused. */
export type StunErrorCode =
  /** Fewer than 20 bytes. */
  | 'truncated'
  /** The first two bits are not zero. */
  | 'not-stun'
  /** Bytes 4..7 are not the magic cookie (RFC 3489 messages are not accepted). */
  | 'bad-cookie'
  /** The length field is not a multiple of 4 or does not equal the bytes after the header. */
  | 'length-mismatch'
  /** An attribute's value or padding runs past the end of the message. */
  | 'attribute-overrun'
  /** A known attribute has the wrong size or content, or something follows FINGERPRINT. */
  | 'bad-attribute'
  /** An encoder was given a value that cannot be put on the wire. */
  | 'invalid-argument';

/** Malformed STUN input or an unencodable value; `code` says which. */
export class StunError extends Error {
  override readonly name = 'StunError';

  constructor(
    readonly code: StunErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One attribute TLV; `value` is a view into the message (padding excluded). */
export interface StunAttribute {
  type: number;
  /** Offset of the attribute's 4-byte header within the message. */
  offset: number;
  value: Buffer;
}

/** A parsed STUN message. ICE fields come from the first occurrence covered by MESSAGE-INTEGRITY. */
export interface StunMessage {
  /** The raw 14-bit message type. */
  messageType: number;
  /** 12-bit method (StunMethod.Binding = 1). */
  method: number;
  messageClass: StunMessageClass;
  /** The header's length field: bytes after the header. */
  length: number;
  /** 96-bit transaction id (a view). */
  transactionId: Buffer;
  /** Every attribute in wire order, including ones after MESSAGE-INTEGRITY that RFC 8489 says to ignore. */
  attributes: StunAttribute[];
  username?: string;
  priority?: number;
  iceControlling?: bigint;
  iceControlled?: bigint;
  useCandidate: boolean;
  hasMessageIntegrity: boolean;
  hasMessageIntegritySha256: boolean;
  hasFingerprint: boolean;
}

/** Attribute fields for the encoder. */
export interface StunAttributeInit {
  type: number;
  value: Uint8Array;
}

/** Everything `encodeStunMessage` needs. */
export interface StunMessageInit {
  method: number;
  messageClass: StunMessageClass;
  /** Exactly 12 bytes. */
  transactionId: Uint8Array;
  attributes?: readonly StunAttributeInit[];
  /** When given, MESSAGE-INTEGRITY (HMAC-SHA1 with this key; a string is used as UTF-8) is appended. */
  integrityKey?: Uint8Array | string;
  /** When true, FINGERPRINT is appended last. */
  fingerprint?: boolean;
  /** Byte used to pad attribute values to 4 bytes (0 by default; RFC 5769 vectors use 0x20). */
  paddingByte?: number;
}

/** Fields of an ICE connectivity check for `encodeStunBindingRequest`. */
export interface StunBindingRequestInit {
  /** Exactly 12 bytes. */
  transactionId: Uint8Array;
  /** `<remote ufrag>:<local ufrag>` in ICE; at most 508 UTF-8 bytes. */
  username?: string;
  priority?: number;
  iceControlling?: bigint;
  iceControlled?: bigint;
  useCandidate?: boolean;
  software?: string;
  integrityKey?: Uint8Array | string;
  fingerprint?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Validates the 20-byte header against the datagram and returns the body length; throws StunError. */
function checkHeader(message: Buffer): number {
  if (message.length < STUN_HEADER_LENGTH) {
    throw new StunError('truncated', `STUN message needs ${STUN_HEADER_LENGTH} bytes, got ${message.length}`);
  }
  if ((message[0]! & 0xc0) !== 0) {
    throw new StunError('not-stun', `first two bits of a STUN message must be 0 (byte 0x${message[0]!.toString(16)})`);
  }
  const length = message.readUInt16BE(2);
  if (length % 4 !== 0) {
    throw new StunError('length-mismatch', `STUN length ${length} is not a multiple of 4`);
  }
  if (STUN_HEADER_LENGTH + length !== message.length) {
    throw new StunError(
      'length-mismatch',
      `STUN length ${length} but ${message.length - STUN_HEADER_LENGTH} bytes follow the header`,
    );
  }
  if (message.readUInt32BE(4) !== STUN_MAGIC_COOKIE) {
    throw new StunError('bad-cookie', 'STUN magic cookie missing');
  }
  return length;
}

/** Size and content rules of the attributes this module interprets. */
function checkKnownAttribute(message: Buffer, type: number, valueStart: number, valueLength: number): void {
  const expectLength = (expected: number, name: string): void => {
    if (valueLength !== expected) {
      throw new StunError('bad-attribute', `${name} must be ${expected} bytes, got ${valueLength}`);
    }
  };
  switch (type) {
    case StunAttributeType.Username:
      if (valueLength > STUN_USERNAME_MAX_PARSE) {
        throw new StunError('bad-attribute', `USERNAME of ${valueLength} bytes exceeds ${STUN_USERNAME_MAX_PARSE}`);
      }
      if (!isUtf8(message.subarray(valueStart, valueStart + valueLength))) {
        throw new StunError('bad-attribute', 'USERNAME is not valid UTF-8');
      }
      return;
    case StunAttributeType.MessageIntegrity:
      return expectLength(20, 'MESSAGE-INTEGRITY');
    case StunAttributeType.MessageIntegritySha256:
      if (valueLength < 16 || valueLength > 32 || valueLength % 4 !== 0) {
        throw new StunError('bad-attribute', `MESSAGE-INTEGRITY-SHA256 of ${valueLength} bytes`);
      }
      return;
    case StunAttributeType.Fingerprint:
      return expectLength(4, 'FINGERPRINT');
    case StunAttributeType.Priority:
      return expectLength(4, 'PRIORITY');
    case StunAttributeType.UseCandidate:
      return expectLength(0, 'USE-CANDIDATE');
    case StunAttributeType.IceControlled:
      return expectLength(8, 'ICE-CONTROLLED');
    case StunAttributeType.IceControlling:
      return expectLength(8, 'ICE-CONTROLLING');
    default:
      return;
  }
}

/** Called for each attribute; `covered` is false once MESSAGE-INTEGRITY has passed (RFC 8489 §14.5). */
type AttributeVisitor = (type: number, headerOffset: number, valueStart: number, valueLength: number, covered: boolean) => void;

/** Walks the TLVs of a message whose header passed `checkHeader`, checking every bound; throws StunError. */
function walkAttributes(message: Buffer, visit: AttributeVisitor): void {
  const end = message.length;
  let offset = STUN_HEADER_LENGTH;
  let integritySeen = false;
  let fingerprintSeen = false;
  while (offset < end) {
    if (fingerprintSeen) {
      throw new StunError('bad-attribute', 'FINGERPRINT must be the last attribute');
    }
    if (end - offset < 4) {
      throw new StunError('attribute-overrun', `${end - offset} trailing bytes cannot hold an attribute header`);
    }
    const type = message.readUInt16BE(offset);
    const valueLength = message.readUInt16BE(offset + 2);
    const valueStart = offset + 4;
    if (valueLength > end - valueStart) {
      throw new StunError('attribute-overrun', `attribute 0x${type.toString(16)} length ${valueLength} overruns the message`);
    }
    const paddedLength = (valueLength + 3) & ~3;
    if (paddedLength > end - valueStart) {
      throw new StunError('attribute-overrun', `padding of attribute 0x${type.toString(16)} overruns the message`);
    }
    checkKnownAttribute(message, type, valueStart, valueLength);
    const covered =
      !integritySeen || type === StunAttributeType.MessageIntegritySha256 || type === StunAttributeType.Fingerprint;
    visit(type, offset, valueStart, valueLength, covered);
    if (type === StunAttributeType.MessageIntegrity || type === StunAttributeType.MessageIntegritySha256) {
      integritySeen = true;
    }
    if (type === StunAttributeType.Fingerprint) fingerprintSeen = true;
    offset = valueStart + paddedLength;
  }
}

/** Splits a 14-bit message type into method and class (RFC 8489 §5, Figure 3). */
export function decodeStunMessageType(messageType: number): { method: number; messageClass: StunMessageClass } {
  const classBits = ((messageType >> 7) & 0b10) | ((messageType >> 4) & 0b01);
  const method = (messageType & 0x000f) | ((messageType >> 1) & 0x0070) | ((messageType >> 2) & 0x0f80);
  return { method, messageClass: CLASS_BY_BITS[classBits]! };
}

/** Joins method and class into the 14-bit message type; throws StunError if the method exceeds 12 bits. */
export function encodeStunMessageType(method: number, messageClass: StunMessageClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw new StunError('invalid-argument', `STUN method must be a 12-bit integer, got ${method}`);
  }
  const classBits = CLASS_BY_BITS.indexOf(messageClass);
  if (classBits < 0) throw new StunError('invalid-argument', `unknown STUN class ${String(messageClass)}`);
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((classBits & 0b01) << 4) |
    ((classBits & 0b10) << 7)
  );
}

/** Parses a whole STUN message (the datagram must be exactly one message); throws StunError. */
export function parseStunMessage(message: Buffer): StunMessage {
  const length = checkHeader(message);
  const messageType = message.readUInt16BE(0);
  const { method, messageClass } = decodeStunMessageType(messageType);
  const parsed: StunMessage = {
    messageType,
    method,
    messageClass,
    length,
    transactionId: message.subarray(8, STUN_HEADER_LENGTH),
    attributes: [],
    useCandidate: false,
    hasMessageIntegrity: false,
    hasMessageIntegritySha256: false,
    hasFingerprint: false,
  };
  walkAttributes(message, (type, headerOffset, valueStart, valueLength, covered) => {
    parsed.attributes.push({ type, offset: headerOffset, value: message.subarray(valueStart, valueStart + valueLength) });
    if (!covered) return;
    switch (type) {
      case StunAttributeType.Username:
        parsed.username ??= message.toString('utf8', valueStart, valueStart + valueLength);
        break;
      case StunAttributeType.Priority:
        parsed.priority ??= message.readUInt32BE(valueStart);
        break;
      case StunAttributeType.IceControlling:
        parsed.iceControlling ??= message.readBigUInt64BE(valueStart);
        break;
      case StunAttributeType.IceControlled:
        parsed.iceControlled ??= message.readBigUInt64BE(valueStart);
        break;
      case StunAttributeType.UseCandidate:
        parsed.useCandidate = true;
        break;
      case StunAttributeType.MessageIntegrity:
        parsed.hasMessageIntegrity = true;
        break;
      case StunAttributeType.MessageIntegritySha256:
        parsed.hasMessageIntegritySha256 = true;
        break;
      case StunAttributeType.Fingerprint:
        parsed.hasFingerprint = true;
        break;
    }
  });
  return parsed;
}

/**
 * The USERNAME of a STUN message, or undefined when it has none; the relay's hot path. Accepts and
 * rejects exactly what `parseStunMessage` does (throws StunError), without building the attribute list.
 */
export function peekStunUsername(message: Buffer): string | undefined {
  checkHeader(message);
  let start = -1;
  let length = 0;
  walkAttributes(message, (type, _headerOffset, valueStart, valueLength, covered) => {
    if (type === StunAttributeType.Username && covered && start < 0) {
      start = valueStart;
      length = valueLength;
    }
  });
  return start < 0 ? undefined : message.toString('utf8', start, start + length);
}

/** True when the header is that of an RFC 8489 message whose length matches the datagram. Never throws. */
export function isStunMessage(datagram: Buffer): boolean {
  return (
    datagram.length >= STUN_HEADER_LENGTH &&
    (datagram[0]! & 0xc0) === 0 &&
    datagram.readUInt16BE(2) % 4 === 0 &&
    STUN_HEADER_LENGTH + datagram.readUInt16BE(2) === datagram.length &&
    datagram.readUInt32BE(4) === STUN_MAGIC_COOKIE
  );
}

/** True when `isStunMessage` holds and the type is a Binding request (0x0001). Attributes are not walked. Never throws. */
export function isStunBindingRequest(datagram: Buffer): boolean {
  return isStunMessage(datagram) && datagram.readUInt16BE(0) === 0x0001;
}

// ---------------------------------------------------------------------------------------------
// Integrity and fingerprint

/** HMAC-SHA1 over the message up to `integrityOffset`, with the length field set to end right after MESSAGE-INTEGRITY. */
function computeMessageIntegrity(message: Buffer, integrityOffset: number, key: Uint8Array | string): Buffer {
  const header = Buffer.from(message.subarray(0, STUN_HEADER_LENGTH));
  header.writeUInt16BE(integrityOffset + 24 - STUN_HEADER_LENGTH, 2);
  return createHmac('sha1', key)
    .update(header)
    .update(message.subarray(STUN_HEADER_LENGTH, integrityOffset))
    .digest();
}

/** FINGERPRINT value for a message whose FINGERPRINT attribute header starts at `fingerprintOffset`. */
function computeFingerprint(message: Buffer, fingerprintOffset: number): number {
  return (crc32(message.subarray(0, fingerprintOffset)) ^ STUN_FINGERPRINT_XOR) >>> 0;
}

/** True when the message has a FINGERPRINT and it matches; false when absent or wrong; StunError when malformed. */
export function verifyStunFingerprint(message: Buffer): boolean {
  const parsed = parseStunMessage(message);
  const fingerprint = parsed.attributes.find((a) => a.type === StunAttributeType.Fingerprint);
  if (!fingerprint) return false;
  return fingerprint.value.readUInt32BE(0) === computeFingerprint(message, fingerprint.offset);
}

/**
 * True when the first MESSAGE-INTEGRITY matches HMAC-SHA1 with `key` (for ICE: the remote ice-pwd as
 * UTF-8; OpaqueString preparation is the caller's business); false when absent or wrong; StunError when malformed.
 */
export function verifyStunMessageIntegrity(message: Buffer, key: Uint8Array | string): boolean {
  const parsed = parseStunMessage(message);
  const integrity = parsed.attributes.find((a) => a.type === StunAttributeType.MessageIntegrity);
  if (!integrity) return false;
  return timingSafeEqual(integrity.value, computeMessageIntegrity(message, integrity.offset, key));
}

// ---------------------------------------------------------------------------------------------
// Encoding

function assertInteger(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new StunError('invalid-argument', `${what} must be an integer in [0, ${max}], got ${value}`);
  }
}

/** Encodes a STUN message, appending MESSAGE-INTEGRITY and FINGERPRINT when asked; throws StunError on bad fields. */
export function encodeStunMessage(init: StunMessageInit): Buffer {
  const messageType = encodeStunMessageType(init.method, init.messageClass);
  if (init.transactionId.length !== 12) {
    throw new StunError('invalid-argument', `transaction id must be 12 bytes, got ${init.transactionId.length}`);
  }
  const paddingByte = init.paddingByte ?? 0;
  assertInteger(paddingByte, 0xff, 'padding byte');
  const attributes = init.attributes ?? [];
  let attributesLength = 0;
  for (const attribute of attributes) {
    assertInteger(attribute.type, 0xffff, 'attribute type');
    assertInteger(attribute.value.length, 0xffff, 'attribute length');
    attributesLength += 4 + ((attribute.value.length + 3) & ~3);
  }
  const integrityLength = init.integrityKey === undefined ? 0 : 24;
  const fingerprintLength = init.fingerprint ? 8 : 0;
  const bodyLength = attributesLength + integrityLength + fingerprintLength;
  if (bodyLength > MAX_BODY_LENGTH) {
    throw new StunError('invalid-argument', `STUN body of ${bodyLength} bytes exceeds ${MAX_BODY_LENGTH}`);
  }

  const message = Buffer.alloc(STUN_HEADER_LENGTH + bodyLength);
  message.writeUInt16BE(messageType, 0);
  message.writeUInt16BE(attributesLength, 2);
  message.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  message.set(init.transactionId, 8);
  let offset = STUN_HEADER_LENGTH;
  for (const attribute of attributes) {
    message.writeUInt16BE(attribute.type, offset);
    message.writeUInt16BE(attribute.value.length, offset + 2);
    message.set(attribute.value, offset + 4);
    const valueEnd = offset + 4 + attribute.value.length;
    offset += 4 + ((attribute.value.length + 3) & ~3);
    message.fill(paddingByte, valueEnd, offset);
  }
  if (init.integrityKey !== undefined) {
    const hmac = computeMessageIntegrity(message, offset, init.integrityKey);
    message.writeUInt16BE(StunAttributeType.MessageIntegrity, offset);
    message.writeUInt16BE(20, offset + 2);
    hmac.copy(message, offset + 4);
    offset += 24;
  }
  message.writeUInt16BE(bodyLength, 2);
  if (init.fingerprint) {
    const fingerprint = computeFingerprint(message, offset);
    message.writeUInt16BE(StunAttributeType.Fingerprint, offset);
    message.writeUInt16BE(4, offset + 2);
    message.writeUInt32BE(fingerprint, offset + 4);
  }
  return message;
}

function uint32Value(value: number, what: string): Buffer {
  assertInteger(value, 0xffffffff, what);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}

function uint64Value(value: bigint, what: string): Buffer {
  if (value < 0n || value > 0xffffffffffffffffn) {
    throw new StunError('invalid-argument', `${what} must fit in 64 unsigned bits`);
  }
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(value, 0);
  return bytes;
}

/** Encodes an ICE Binding request: USERNAME, PRIORITY, ICE-CONTROLLING/CONTROLLED, USE-CANDIDATE, SOFTWARE, then MI and FINGERPRINT. */
export function encodeStunBindingRequest(init: StunBindingRequestInit): Buffer {
  const attributes: StunAttributeInit[] = [];
  if (init.username !== undefined) {
    const username = Buffer.from(init.username, 'utf8');
    if (username.length > STUN_USERNAME_MAX_ENCODE) {
      throw new StunError('invalid-argument', `USERNAME of ${username.length} bytes exceeds ${STUN_USERNAME_MAX_ENCODE}`);
    }
    attributes.push({ type: StunAttributeType.Username, value: username });
  }
  if (init.priority !== undefined) {
    attributes.push({ type: StunAttributeType.Priority, value: uint32Value(init.priority, 'PRIORITY') });
  }
  if (init.iceControlling !== undefined) {
    attributes.push({ type: StunAttributeType.IceControlling, value: uint64Value(init.iceControlling, 'ICE-CONTROLLING') });
  }
  if (init.iceControlled !== undefined) {
    attributes.push({ type: StunAttributeType.IceControlled, value: uint64Value(init.iceControlled, 'ICE-CONTROLLED') });
  }
  if (init.useCandidate) attributes.push({ type: StunAttributeType.UseCandidate, value: Buffer.alloc(0) });
  if (init.software !== undefined) {
    attributes.push({ type: StunAttributeType.Software, value: Buffer.from(init.software, 'utf8') });
  }
  return encodeStunMessage({
    method: StunMethod.Binding,
    messageClass: 'request',
    transactionId: init.transactionId,
    attributes,
    integrityKey: init.integrityKey,
    fingerprint: init.fingerprint,
  });
}
