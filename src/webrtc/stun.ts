// STUN message parsing (RFC 8489) with the ICE attributes of RFC 8445 §16.1: the relay reads the USERNAME
// of binding requests and checks their MESSAGE-INTEGRITY. A remote peer controls every byte, so every
// length is checked before it is read and anything malformed throws StunError (never a RangeError from a
// Buffer read). The proxy never builds STUN; the encoders live with the test fixtures.
import { isUtf8 } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Bytes in the fixed STUN header. */
export const STUN_HEADER_LENGTH = 20;
/** The magic cookie every RFC 5389/8489 message carries in bytes 4..7. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Longest USERNAME a parser must accept (RFC 8489 §14.3, for RFC 5389 compatibility). */
export const STUN_USERNAME_MAX_PARSE = 763;

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
    throw new StunError('length-mismatch', `STUN length ${length} but ${message.length - STUN_HEADER_LENGTH} bytes follow the header`);
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
    const covered = !integritySeen || type === StunAttributeType.MessageIntegritySha256 || type === StunAttributeType.Fingerprint;
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

// ---------------------------------------------------------------------------------------------
// Integrity

/** HMAC-SHA1 over the message up to `integrityOffset`, with the length field set to end right after MESSAGE-INTEGRITY. */
export function computeMessageIntegrity(message: Buffer, integrityOffset: number, key: Uint8Array | string): Buffer {
  const header = Buffer.from(message.subarray(0, STUN_HEADER_LENGTH));
  header.writeUInt16BE(integrityOffset + 24 - STUN_HEADER_LENGTH, 2);
  return createHmac('sha1', key).update(header).update(message.subarray(STUN_HEADER_LENGTH, integrityOffset)).digest();
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
