// Handshake extension blocks (draft §3.2.1): Extension Type (16) | Extension Length in 32-bit words (16)
// | contents. Every block keeps its raw contents, so re-encoding a parsed handshake is byte-exact;
// the decoded fields are read-only conveniences. To change a block, build a new one with the helpers.
import { SrtError, UINT16_MAX, UINT32_MAX, assertUint } from './errors.js';

/** Extension Type values (draft §3.2.1, Table 5). */
export const ExtensionType = {
  HsReq: 1,
  HsRsp: 2,
  KmReq: 3,
  KmRsp: 4,
  StreamId: 5,
  Congestion: 6,
  Filter: 7,
  Group: 8,
} as const;

/** SRT Flags carried in HSREQ/HSRSP (draft §3.2.1.1.1, Table 6). */
export const SrtOptionFlag = {
  TsbpdSend: 0x01,
  TsbpdReceive: 0x02,
  Crypt: 0x04,
  TooLatePacketDrop: 0x08,
  PeriodicNak: 0x10,
  RetransmitFlag: 0x20,
  Stream: 0x40,
  PacketFilter: 0x80,
} as const;

/** Handshake Extension Field flags of a CONCLUSION (draft §3.2.1, Table 3). */
export const ExtensionFlag = { HsReq: 0x1, KmReq: 0x2, Config: 0x4 } as const;

/** The Stream ID extension may carry at most 512 bytes (draft §3.2.1.3). */
export const MAX_STREAM_ID_BYTES = 512;

/** Bytes of an extension block header. */
export const EXTENSION_HEADER_LENGTH = 4;

/** Bytes of the HSREQ/HSRSP contents that carry decoded fields. */
export const HS_EXTENSION_LENGTH = 12;

interface ExtensionBlock {
  /** 16-bit Extension Type. */
  type: number;
  /** The block contents exactly as on the wire (a multiple of 4 bytes). */
  contents: Buffer;
}

/** HSREQ (1) / HSRSP (2): SRT version, flags and TSBPD delays (draft §3.2.1.1). */
export interface HsExtension extends ExtensionBlock {
  kind: 'hsreq' | 'hsrsp';
  /** major * 0x10000 + minor * 0x100 + patch. */
  srtVersion: number;
  /** SrtOptionFlag bits. */
  srtFlags: number;
  /** Receiver TSBPD delay, ms (upper 16 bits of the third word). */
  receiverTsbpdDelay: number;
  /** Sender TSBPD delay, ms (lower 16 bits of the third word). */
  senderTsbpdDelay: number;
}

/** KMREQ (3) / KMRSP (4): key material, relayed untouched. */
export interface KeyMaterialExtension extends ExtensionBlock {
  kind: 'kmreq' | 'kmrsp';
}

/** SID (5): the stream id, decoded from little-endian words with trailing NULs stripped. */
export interface StreamIdExtension extends ExtensionBlock {
  kind: 'sid';
  streamId: string;
}

/** CONGESTION (6): congestion controller name ("live", "file"), same string encoding as SID. */
export interface CongestionExtension extends ExtensionBlock {
  kind: 'congestion';
  congestion: string;
}

/** FILTER (7), GROUP (8) and any unknown type: contents kept raw. */
export interface OpaqueExtension extends ExtensionBlock {
  kind: 'filter' | 'group' | 'unknown';
}

/** One decoded extension block. */
export type HandshakeExtension =
  | HsExtension
  | KeyMaterialExtension
  | StreamIdExtension
  | CongestionExtension
  | OpaqueExtension;

/** Decodes one block's contents by type; throws SrtError('bad-extension') for an HSREQ/HSRSP under 12 bytes. */
export function decodeExtension(type: number, contents: Buffer): HandshakeExtension {
  switch (type) {
    case ExtensionType.HsReq:
    case ExtensionType.HsRsp: {
      if (contents.length < HS_EXTENSION_LENGTH) {
        throw new SrtError('bad-extension', `HSREQ/HSRSP needs ${HS_EXTENSION_LENGTH} bytes, got ${contents.length}`);
      }
      return {
        kind: type === ExtensionType.HsReq ? 'hsreq' : 'hsrsp',
        type,
        contents,
        srtVersion: contents.readUInt32BE(0),
        srtFlags: contents.readUInt32BE(4),
        receiverTsbpdDelay: contents.readUInt16BE(8),
        senderTsbpdDelay: contents.readUInt16BE(10),
      };
    }
    case ExtensionType.KmReq:
      return { kind: 'kmreq', type, contents };
    case ExtensionType.KmRsp:
      return { kind: 'kmrsp', type, contents };
    case ExtensionType.StreamId:
      return { kind: 'sid', type, contents, streamId: decodeSrtString(contents) };
    case ExtensionType.Congestion:
      return { kind: 'congestion', type, contents, congestion: decodeSrtString(contents) };
    case ExtensionType.Filter:
      return { kind: 'filter', type, contents };
    case ExtensionType.Group:
      return { kind: 'group', type, contents };
    default:
      return { kind: 'unknown', type, contents };
  }
}

/**
 * Walks the blocks that fill `region` (the bytes after the 48-byte handshake CIF). A block whose
 * length runs past the end, or 1–3 leftover bytes, throws SrtError('bad-extension').
 * Contents are views into `region`.
 */
export function parseExtensions(region: Buffer): HandshakeExtension[] {
  const blocks: HandshakeExtension[] = [];
  let offset = 0;
  while (offset < region.length) {
    const left = region.length - offset;
    if (left < EXTENSION_HEADER_LENGTH) {
      throw new SrtError('bad-extension', `${left} leftover byte(s) after the last extension block`);
    }
    const type = region.readUInt16BE(offset);
    const byteLength = region.readUInt16BE(offset + 2) * 4;
    const start = offset + EXTENSION_HEADER_LENGTH;
    if (byteLength > region.length - start) {
      throw new SrtError(
        'bad-extension',
        `extension type ${type} claims ${byteLength} bytes, only ${region.length - start} left`,
      );
    }
    blocks.push(decodeExtension(type, region.subarray(start, start + byteLength)));
    offset = start + byteLength;
  }
  return blocks;
}

/** Bytes the blocks take on the wire; throws SrtError('invalid-argument') for unencodable blocks. */
export function extensionsByteLength(extensions: readonly HandshakeExtension[]): number {
  let total = 0;
  for (const block of extensions) {
    assertUint(block.type, UINT16_MAX, 'extension type');
    if (block.contents.length % 4 !== 0 || block.contents.length / 4 > UINT16_MAX) {
      throw new SrtError(
        'invalid-argument',
        `extension contents must be a multiple of 4 bytes up to ${UINT16_MAX * 4}, got ${block.contents.length}`,
      );
    }
    total += EXTENSION_HEADER_LENGTH + block.contents.length;
  }
  return total;
}

/** Writes the blocks into `out` at `offset` (room checked by the caller via extensionsByteLength). */
export function writeExtensions(extensions: readonly HandshakeExtension[], out: Buffer, offset: number): number {
  let at = offset;
  for (const block of extensions) {
    at = out.writeUInt16BE(block.type, at);
    at = out.writeUInt16BE(block.contents.length / 4, at);
    at += block.contents.copy(out, at);
  }
  return at;
}

/** The Extension Field flags a CONCLUSION carrying these blocks should advertise. */
export function extensionFlagsFor(extensions: readonly HandshakeExtension[]): number {
  let flags = 0;
  for (const block of extensions) {
    if (block.type === ExtensionType.HsReq || block.type === ExtensionType.HsRsp) flags |= ExtensionFlag.HsReq;
    else if (block.type === ExtensionType.KmReq || block.type === ExtensionType.KmRsp) flags |= ExtensionFlag.KmReq;
    else flags |= ExtensionFlag.Config;
  }
  return flags;
}

/** Fields of an HSREQ/HSRSP to build. */
export interface HsExtensionFields {
  /** true builds HSRSP (2), false HSREQ (1). */
  response: boolean;
  srtVersion: number;
  srtFlags: number;
  receiverTsbpdDelay: number;
  senderTsbpdDelay: number;
}

/** Builds an HSREQ/HSRSP block; throws SrtError('invalid-argument') on out-of-range fields. */
export function hsExtension(fields: HsExtensionFields): HsExtension {
  assertUint(fields.srtVersion, UINT32_MAX, 'srtVersion');
  assertUint(fields.srtFlags, UINT32_MAX, 'srtFlags');
  assertUint(fields.receiverTsbpdDelay, UINT16_MAX, 'receiverTsbpdDelay');
  assertUint(fields.senderTsbpdDelay, UINT16_MAX, 'senderTsbpdDelay');
  const contents = Buffer.alloc(HS_EXTENSION_LENGTH);
  contents.writeUInt32BE(fields.srtVersion, 0);
  contents.writeUInt32BE(fields.srtFlags, 4);
  contents.writeUInt16BE(fields.receiverTsbpdDelay, 8);
  contents.writeUInt16BE(fields.senderTsbpdDelay, 10);
  return decodeExtension(fields.response ? ExtensionType.HsRsp : ExtensionType.HsReq, contents) as HsExtension;
}

/** Builds a SID block; throws SrtError('invalid-argument') past 512 UTF-8 bytes. */
export function streamIdExtension(streamId: string): StreamIdExtension {
  if (Buffer.byteLength(streamId, 'utf8') > MAX_STREAM_ID_BYTES) {
    throw new SrtError('invalid-argument', `stream id exceeds ${MAX_STREAM_ID_BYTES} bytes`);
  }
  return decodeExtension(ExtensionType.StreamId, encodeSrtString(streamId)) as StreamIdExtension;
}

/** Builds a CONGESTION block ("live" or "file"). */
export function congestionExtension(name: string): CongestionExtension {
  return decodeExtension(ExtensionType.Congestion, encodeSrtString(name)) as CongestionExtension;
}

/** Builds a block of any type from raw contents (decoded like a parsed one). */
export function rawExtension(type: number, contents: Buffer): HandshakeExtension {
  assertUint(type, UINT16_MAX, 'extension type');
  if (contents.length % 4 !== 0) {
    throw new SrtError('invalid-argument', `extension contents must be a multiple of 4 bytes, got ${contents.length}`);
  }
  return decodeExtension(type, contents);
}

/**
 * SRT string → text: each 32-bit word holds four characters in reverse order (libsrt stores the
 * string as little-endian words), and the NUL padding at the end is dropped.
 */
export function decodeSrtString(contents: Buffer): string {
  const bytes = Buffer.from(contents); // copy: never reorder the caller's datagram
  bytes.subarray(0, bytes.length - (bytes.length % 4)).swap32(); // a partial last word is left as is
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.toString('utf8', 0, end);
}

/** Text → SRT string contents: UTF-8, NUL-padded to a 4-byte multiple, each word reversed. */
export function encodeSrtString(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  const padded = Buffer.alloc(Math.ceil(utf8.length / 4) * 4);
  utf8.copy(padded);
  return padded.swap32();
}

/** "1.5.3" from an HSREQ srtVersion such as 0x00010503. */
export function formatSrtVersion(srtVersion: number): string {
  return `${srtVersion >>> 16}.${(srtVersion >>> 8) & 0xff}.${srtVersion & 0xff}`;
}
