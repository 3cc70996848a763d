// Handshake extension blocks (draft §3.2.1): Extension Type (16) | Extension Length in 32-bit words (16)
// | contents. Every block keeps its raw contents, so re-encoding a parsed handshake is byte-exact;
// the decoded fields are read-only conveniences. To change a block, build a new one with the helpers.
import { SrtError, UINT16_MAX, assertUint } from './errors.js';

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

/** Handshake Extension Field flags of a CONCLUSION (draft §3.2.1, Table 3). */
export const ExtensionFlag = { HsReq: 0x1, KmReq: 0x2, Config: 0x4 } as const;

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
export type HandshakeExtension = HsExtension | KeyMaterialExtension | StreamIdExtension | CongestionExtension | OpaqueExtension;

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
      throw new SrtError('bad-extension', `extension type ${type} claims ${byteLength} bytes, only ${region.length - start} left`);
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
      throw new SrtError('invalid-argument', `extension contents must be a multiple of 4 bytes up to ${UINT16_MAX * 4}, got ${block.contents.length}`);
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
