// The media message shared by RTMP and HTTP-FLV players of an edge stream: one audio, video or script-data
// message as the origin sent it, classified once (keyframe, sequence header, metadata) and encoded at most
// once per player protocol — every RTMP player of the stream gets the same chunk bytes, every FLV player
// the same tag bytes, so fanning out costs one write per player, not one encoding.
import { MessageType, SplitPayloadMessage, type RtmpMessage } from '../rtmp/messages.js';

/** The RTMP/FLV type ids an edge stream carries (audio 8, video 9, AMF0 script data 18). */
export type MediaType = 8 | 9 | 18;

/** Chunk streams the proxy's fan-out writes media on (one per kind, as common servers do). */
const CSID: Record<MediaType, number> = { 8: 4, 9: 6, 18: 5 };

export class MediaPacket {
  /** A video frame a decoder can start from (not a sequence header). */
  readonly keyframe: boolean;
  /** An AVC/HEVC/AV1 decoder configuration or an AAC AudioSpecificConfig (kept for late players). */
  readonly header: boolean;
  /** An `onMetaData` script message. */
  readonly metadata: boolean;
  private rtmp: Buffer | undefined;
  private flv: Buffer | undefined;

  constructor(
    readonly type: MediaType,
    /** Milliseconds, 32-bit wrapping as in RTMP and FLV. */
    readonly timestamp: number,
    /** The payload's pieces, in order (views of received buffers; never changed). */
    readonly parts: readonly Buffer[],
    readonly length: number,
  ) {
    const b0 = byteAt(parts, 0);
    const b1 = byteAt(parts, 1);
    let keyframe = false;
    let header = false;
    let metadata = false;
    if (type === MessageType.Video && b0 !== undefined) {
      if (b0 & 0x80) {
        // Enhanced RTMP: frame type in bits 4–6, packet type in the low nibble (0 = sequence start).
        const packetType = b0 & 0x0f;
        header = packetType === 0;
        keyframe = ((b0 >> 4) & 0x07) === 1 && (packetType === 1 || packetType === 3);
      } else {
        const codec = b0 & 0x0f;
        // AVC (7) and HEVC (12, the common extension) carry an AVCPacketType byte: 0 = sequence header.
        header = (codec === 7 || codec === 12) && b1 === 0;
        keyframe = !header && b0 >> 4 === 1;
      }
    } else if (type === MessageType.Audio && b0 !== undefined) {
      const format = b0 >> 4;
      // AAC: AACPacketType 0 is the AudioSpecificConfig; enhanced audio (9): packet type 0 = sequence start.
      header = (format === 10 && b1 === 0) || (format === 9 && (b0 & 0x0f) === 0);
    } else if (type === MessageType.DataAmf0) {
      metadata = startsWithString(parts, 'onMetaData');
    }
    this.keyframe = keyframe;
    this.header = header;
    this.metadata = metadata;
  }

  /** A media message of the origin, or undefined for any other kind of message. */
  static from(m: RtmpMessage): MediaPacket | undefined {
    if (m.type !== MessageType.Audio && m.type !== MessageType.Video && m.type !== MessageType.DataAmf0) return undefined;
    if (m instanceof SplitPayloadMessage) return new MediaPacket(m.type, m.timestamp, m.parts, m.length);
    return new MediaPacket(m.type, m.timestamp, [m.payload], m.payload.length);
  }

  /** The same message at another timestamp (cached headers given to a late player at its first frame's time). */
  at(timestamp: number): MediaPacket {
    return new MediaPacket(this.type, timestamp >>> 0, this.parts, this.length);
  }

  get video(): boolean {
    return this.type === MessageType.Video;
  }

  /** The message as RTMP chunks on message stream `streamId`, every chunk header complete (type 0 and 3). */
  rtmpBytes(streamId: number, chunkSize: number): Buffer {
    if (streamId !== 1) return encodeChunks(this, streamId, chunkSize);
    this.rtmp ??= encodeChunks(this, 1, chunkSize);
    return this.rtmp;
  }

  /** The message as one FLV tag with its PreviousTagSize. */
  flvTag(): Buffer {
    this.flv ??= encodeFlvTag(this);
    return this.flv;
  }

  /** Bytes this packet holds (payload; encodings are at most twice that and shared). */
  get bytes(): number {
    return this.length;
  }
}

function byteAt(parts: readonly Buffer[], i: number): number | undefined {
  for (const p of parts) {
    if (i < p.length) return p[i];
    i -= p.length;
  }
  return undefined;
}

function startsWithString(parts: readonly Buffer[], text: string): boolean {
  const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[]).subarray(0, 3 + text.length);
  return head.length >= 3 + text.length && head[0] === 0x02 && head.readUInt16BE(1) === text.length && head.toString('latin1', 3, 3 + text.length) === text;
}

/**
 * RTMP chunks with a full (type 0) header on the first and type 3 headers on the rest: valid after whatever
 * this connection sent before on the chunk stream, so the same bytes serve every player.
 */
export function encodeChunks(p: MediaPacket, streamId: number, chunkSize: number): Buffer {
  const csid = CSID[p.type];
  const extended = p.timestamp >= 0xffffff;
  const chunks = Math.max(1, Math.ceil(p.length / chunkSize));
  const ext = extended ? 4 : 0;
  const out = Buffer.allocUnsafe(12 + ext + (chunks - 1) * (1 + ext) + p.length);
  let o = 0;
  out[o++] = csid; // fmt 0
  out.writeUIntBE(extended ? 0xffffff : p.timestamp, o, 3);
  out.writeUIntBE(p.length, o + 3, 3);
  out[o + 6] = p.type;
  out.writeUInt32LE(streamId >>> 0, o + 7);
  o += 11;
  if (extended) o = out.writeUInt32BE(p.timestamp >>> 0, o);
  let inChunk = 0;
  for (const part of p.parts) {
    let at = 0;
    while (at < part.length) {
      if (inChunk === chunkSize) {
        out[o++] = 0xc0 | csid; // fmt 3
        if (extended) o = out.writeUInt32BE(p.timestamp >>> 0, o);
        inChunk = 0;
      }
      const n = Math.min(part.length - at, chunkSize - inChunk);
      part.copy(out, o, at, at + n);
      o += n;
      at += n;
      inChunk += n;
    }
  }
  return out.subarray(0, o);
}

/** An FLV tag: 11-byte header, the payload, then the 4-byte size of the tag. */
export function encodeFlvTag(p: MediaPacket): Buffer {
  const out = Buffer.allocUnsafe(11 + p.length + 4);
  out[0] = p.type;
  out.writeUIntBE(p.length, 1, 3);
  out.writeUIntBE(p.timestamp & 0xffffff, 4, 3);
  out[7] = (p.timestamp >>> 24) & 0xff;
  out.writeUIntBE(0, 8, 3);
  let o = 11;
  for (const part of p.parts) o += part.copy(out, o);
  out.writeUInt32BE(11 + p.length, o);
  return out;
}

/** The FLV file header (audio and video flags set) and PreviousTagSize0. */
export function flvHeader(): Buffer {
  return Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 0x09, 0, 0, 0, 0]);
}

/** Reads FLV tags back into packets (tests and the bench's players); stops at the first incomplete tag. */
export function parseFlvTags(buf: Buffer, from = 13): { packets: MediaPacket[]; used: number } {
  const packets: MediaPacket[] = [];
  let off = from;
  while (off + 11 <= buf.length) {
    const type = buf[off]! & 0x1f;
    const size = buf.readUIntBE(off + 1, 3);
    const timestamp = (buf.readUIntBE(off + 4, 3) | (buf[off + 7]! << 24)) >>> 0;
    const end = off + 11 + size + 4;
    if (end > buf.length) break;
    if (type === 8 || type === 9 || type === 18) packets.push(new MediaPacket(type, timestamp, [buf.subarray(off + 11, off + 11 + size)], size));
    off = end;
  }
  return { packets, used: off };
}

/**
 * One batch of packets from the upstream as every player of a protocol gets it when nothing waits for it:
 * the encodings joined into one buffer, made once for all of them (one write per player per batch).
 */
export class SharedBatch {
  private readonly joined = new Map<string, Buffer>();

  constructor(readonly packets: readonly MediaPacket[]) {}

  bytes(key: string, encode: (p: MediaPacket) => Buffer): Buffer {
    let b = this.joined.get(key);
    if (b === undefined) {
      const parts = this.packets.map(encode);
      b = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      this.joined.set(key, b);
    }
    return b;
  }
}
