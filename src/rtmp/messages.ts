// RTMP message type ids, protocol control messages (types 1, 2, 3, 5, 6) and User Control events (type 4),
// as laid out in the Adobe RTMP specification 1.0, sections 5.4 and 6.2 / 7.1.7.
import { RtmpError } from './errors.js';

/** RTMP message type ids. */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/** Chunk stream and message stream on which protocol control messages travel. */
export const PROTOCOL_CONTROL_CSID = 2;
export const PROTOCOL_CONTROL_STREAM_ID = 0;

/** Chunk size every RTMP connection starts with, in both directions. */
export const DEFAULT_CHUNK_SIZE = 128;
/** Largest value Set Chunk Size may carry (its top bit must be zero). */
export const MAX_SET_CHUNK_SIZE = 0x7fffffff;
/** Chunk sizes above this are all equivalent: no message is longer (24-bit length field). */
export const MAX_EFFECTIVE_CHUNK_SIZE = 0xffffff;

/** Set Peer Bandwidth limit types. */
export const PeerBandwidthLimit = {
  Hard: 0,
  Soft: 1,
  Dynamic: 2,
} as const;
export type PeerBandwidthLimitType = (typeof PeerBandwidthLimit)[keyof typeof PeerBandwidthLimit];

/** User Control event types. */
export const UserControlEventType = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** A decoded User Control event; unknown event types are kept with their raw data. */
export type UserControlEvent =
  | { kind: 'streamBegin'; streamId: number }
  | { kind: 'streamEof'; streamId: number }
  | { kind: 'streamDry'; streamId: number }
  | { kind: 'setBufferLength'; streamId: number; bufferLengthMs: number }
  | { kind: 'streamIsRecorded'; streamId: number }
  | { kind: 'pingRequest'; timestamp: number }
  | { kind: 'pingResponse'; timestamp: number }
  | { kind: 'unknown'; eventType: number; data: Buffer };

/** Set Peer Bandwidth contents. */
export interface PeerBandwidth {
  windowSize: number;
  limitType: PeerBandwidthLimitType;
}

function needLength(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new RtmpError('MESSAGE_LENGTH', `${what} needs ${n} bytes, got ${payload.length}`);
}

function checkUint32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RtmpError('MESSAGE_VALUE', `${what} ${v} is not a uint32`);
}

function uint32Payload(v: number, what: string): Buffer {
  checkUint32(v, what);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v, 0);
  return b;
}

/** Set Chunk Size payload; `size` must be 1..2^31-1 (the top bit is reserved and must be 0). */
export function encodeSetChunkSize(size: number): Buffer {
  if (!Number.isInteger(size) || size < 1 || size > MAX_SET_CHUNK_SIZE) {
    throw new RtmpError('MESSAGE_VALUE', `chunk size ${size} outside 1..${MAX_SET_CHUNK_SIZE}`);
  }
  return uint32Payload(size, 'chunk size');
}

/** Reads a Set Chunk Size payload; rejects a set top bit and zero. Extra trailing bytes are ignored. */
export function decodeSetChunkSize(payload: Buffer): number {
  needLength(payload, 4, 'Set Chunk Size');
  const v = payload.readUInt32BE(0);
  if (v & 0x80000000) throw new RtmpError('MESSAGE_VALUE', 'Set Chunk Size has its reserved top bit set');
  if (v === 0) throw new RtmpError('MESSAGE_VALUE', 'Set Chunk Size of 0');
  return v;
}

/** Reads an Abort Message payload (a chunk stream id). */
export function decodeAbort(payload: Buffer): number {
  needLength(payload, 4, 'Abort');
  return payload.readUInt32BE(0);
}

/** Acknowledgement payload: bytes received so far, modulo 2^32. */
export function encodeAcknowledgement(sequenceNumber: number): Buffer {
  return uint32Payload(sequenceNumber, 'sequence number');
}

/** Window Acknowledgement Size payload. */
export function encodeWindowAckSize(size: number): Buffer {
  return uint32Payload(size, 'window size');
}

/** Reads a Window Acknowledgement Size payload. */
export function decodeWindowAckSize(payload: Buffer): number {
  needLength(payload, 4, 'Window Acknowledgement Size');
  return payload.readUInt32BE(0);
}

/** Set Peer Bandwidth payload: window size and limit type (0 hard, 1 soft, 2 dynamic). */
export function encodeSetPeerBandwidth(bw: PeerBandwidth): Buffer {
  checkUint32(bw.windowSize, 'window size');
  if (bw.limitType !== 0 && bw.limitType !== 1 && bw.limitType !== 2) {
    throw new RtmpError('MESSAGE_VALUE', `limit type ${String(bw.limitType)} is not 0, 1 or 2`);
  }
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(bw.windowSize, 0);
  b[4] = bw.limitType;
  return b;
}

/** Reads a Set Peer Bandwidth payload; an unknown limit type is an error. */
export function decodeSetPeerBandwidth(payload: Buffer): PeerBandwidth {
  needLength(payload, 5, 'Set Peer Bandwidth');
  const limitType = payload[4];
  if (limitType !== 0 && limitType !== 1 && limitType !== 2) {
    throw new RtmpError('MESSAGE_VALUE', `Set Peer Bandwidth limit type ${limitType}`);
  }
  return { windowSize: payload.readUInt32BE(0), limitType };
}

/** User Control payload: a 16-bit event type then the event data. */
export function encodeUserControl(event: UserControlEvent): Buffer {
  const withU32 = (type: number, v: number, what: string): Buffer => {
    checkUint32(v, what);
    const b = Buffer.allocUnsafe(6);
    b.writeUInt16BE(type, 0);
    b.writeUInt32BE(v, 2);
    return b;
  };
  switch (event.kind) {
    case 'streamBegin':
      return withU32(UserControlEventType.StreamBegin, event.streamId, 'stream id');
    case 'streamEof':
      return withU32(UserControlEventType.StreamEof, event.streamId, 'stream id');
    case 'streamDry':
      return withU32(UserControlEventType.StreamDry, event.streamId, 'stream id');
    case 'streamIsRecorded':
      return withU32(UserControlEventType.StreamIsRecorded, event.streamId, 'stream id');
    case 'pingRequest':
      return withU32(UserControlEventType.PingRequest, event.timestamp, 'timestamp');
    case 'pingResponse':
      return withU32(UserControlEventType.PingResponse, event.timestamp, 'timestamp');
    case 'setBufferLength': {
      checkUint32(event.streamId, 'stream id');
      checkUint32(event.bufferLengthMs, 'buffer length');
      const b = Buffer.allocUnsafe(10);
      b.writeUInt16BE(UserControlEventType.SetBufferLength, 0);
      b.writeUInt32BE(event.streamId, 2);
      b.writeUInt32BE(event.bufferLengthMs, 6);
      return b;
    }
    case 'unknown': {
      if (!Number.isInteger(event.eventType) || event.eventType < 0 || event.eventType > 0xffff) {
        throw new RtmpError('MESSAGE_VALUE', `user control event type ${event.eventType}`);
      }
      const b = Buffer.allocUnsafe(2 + event.data.length);
      b.writeUInt16BE(event.eventType, 0);
      event.data.copy(b, 2);
      return b;
    }
  }
}

/** A message ready for ChunkWriter, and what ChunkReader produces. */
export interface RtmpMessage {
  /** Message type id (see MessageType). */
  type: number;
  /** Absolute timestamp in milliseconds, 0..2^32-1 (wraps). */
  timestamp: number;
  /** Message stream id (0 for connection-level messages). */
  streamId: number;
  /** Chunk stream id, 2..65599. */
  csid: number;
  payload: Buffer;
}

/**
 * A message whose payload arrived in several chunks and is kept as views of the received buffers (no copy).
 * `payload` joins them on first use (and keeps the result); writers that can send the parts as they are
 * (ChunkWriter.encodeTo) use `parts` and never join. Assigning `payload` replaces the parts.
 */
export class SplitPayloadMessage implements RtmpMessage {
  private joined: Buffer | null = null;

  constructor(
    public type: number,
    public timestamp: number,
    public streamId: number,
    public csid: number,
    /** The payload's pieces, in order (views; they must not change). */
    public parts: Buffer[],
    /** Their total length. */
    public length: number,
  ) {}

  get payload(): Buffer {
    this.joined ??= this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    return this.joined;
  }

  set payload(value: Buffer) {
    this.joined = value;
    this.parts = [value];
    this.length = value.length;
  }
}

/** A message's payload length, without joining a split payload. */
export function payloadLength(msg: RtmpMessage): number {
  return msg instanceof SplitPayloadMessage ? msg.length : msg.payload.length;
}

/** A protocol control message (types 1–6) on chunk stream 2, message stream 0, timestamp 0. */
export function controlMessage(type: number, payload: Buffer): RtmpMessage {
  return { type, timestamp: 0, streamId: PROTOCOL_CONTROL_STREAM_ID, csid: PROTOCOL_CONTROL_CSID, payload };
}

/** A User Control message on chunk stream 2, message stream 0. */
export function userControlMessage(event: UserControlEvent, timestamp = 0): RtmpMessage {
  return { ...controlMessage(MessageType.UserControl, encodeUserControl(event)), timestamp };
}
