// The RTMP chunk stream (Adobe RTMP specification 1.0, section 5.3): ChunkReader turns bytes into messages,
// ChunkWriter turns messages into chunks. Both are pure; each direction of each connection owns one.
import { RtmpError } from './errors.js';
import {
  DEFAULT_CHUNK_SIZE,
  MAX_EFFECTIVE_CHUNK_SIZE,
  MAX_SET_CHUNK_SIZE,
  MessageType,
  controlMessage,
  decodeAbort,
  decodeSetChunkSize,
  encodeSetChunkSize,
  type RtmpMessage,
} from './messages.js';

export type { RtmpMessage } from './messages.js';

/** Smallest and largest chunk stream ids (0 and 1 only select the 2- and 3-byte basic header forms). */
export const MIN_CSID = 2;
export const MAX_CSID = 65599;
/** Largest message the 24-bit length field can announce. */
export const MAX_MESSAGE_LENGTH = 0xffffff;
/** Default cap on one message: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** Default cap on distinct chunk stream ids one peer may use. */
export const DEFAULT_MAX_CHUNK_STREAMS = 64;
/** Default cap on bytes held in partially received messages, over all chunk streams. */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

const TIMESTAMP_EXTENDED = 0xffffff;
/** Longest chunk header: 3-byte basic header + 11-byte type 0 header + 4-byte extended timestamp. */
const MAX_HEADER_BYTES = 18;
const MESSAGE_HEADER_BYTES = [11, 7, 3, 0] as const;
const EMPTY = Buffer.alloc(0);

/**
 * Whether a type 3 chunk carries the extended timestamp again when the stream's last type 0/1/2 header used
 * one. The spec says it does (FFmpeg, librtmp, OBS repeat it); some old encoders do not. 'detect' decides on
 * the first such chunk by checking whether its next 4 bytes equal the last extended value, then sticks to it.
 */
export type Type3ExtendedTimestamp = 'detect' | 'always' | 'never';

/** Limits for one ChunkReader. */
export interface ChunkReaderOptions {
  /** Largest message accepted; a header announcing more is an error. Default 16 MiB. */
  maxMessageSize?: number;
  /** Most distinct chunk stream ids tracked. Default 64. */
  maxChunkStreams?: number;
  /** Most bytes held in partially received messages at once. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** See Type3ExtendedTimestamp. Default 'detect'. */
  type3ExtendedTimestamp?: Type3ExtendedTimestamp;
}

/** Per chunk stream id: the last header (for compressed headers) and the message being reassembled. */
class ChunkStreamState {
  timestamp = 0;
  /** Delta applied by a type 3 chunk that starts a new message. */
  delta = 0;
  length = 0;
  type = 0;
  streamId = 0;
  /** Whether the last type 0/1/2 header used the extended timestamp field, and its value. */
  extended = false;
  extendedValue = 0;
  /** A message has started and not all of its bytes have arrived. */
  inMessage = false;
  /** Reassembly buffer (allocated at the message length) or null while no byte is held. */
  buffer: Buffer | null = null;
  filled = 0;

  constructor(readonly csid: number) {}
}

function positiveIntegerOption(v: number | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RtmpError('CHUNK_INVALID_OPTION', `${name} must be 1..${max}`);
  return v;
}

/**
 * Reassembles RTMP messages from the bytes of one direction of a connection (after the handshake).
 * Applies Set Chunk Size and Abort messages itself, at the exact point in the stream where they arrive, and
 * still returns them. A message that arrives inside one chunk of one `feed` is returned as a view of the fed
 * buffer (no copy), so callers must not modify a buffer after feeding it. After an RtmpError the reader is
 * unusable.
 */
export class ChunkReader {
  private inChunkSize = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, ChunkStreamState>();
  /** Holds a chunk header split across feeds (never more than MAX_HEADER_BYTES). */
  private readonly scratch = Buffer.alloc(MAX_HEADER_BYTES);
  private scratchLength = 0;
  /** The chunk whose body is being read, and how many of its body bytes are still to come. */
  private current: ChunkStreamState | null = null;
  private chunkRemaining = 0;
  private buffered = 0;
  private total = 0;
  private type3Mode: 'unknown' | 'present' | 'absent';
  private out: RtmpMessage[] = [];
  private readonly maxMessageSize: number;
  private readonly maxChunkStreams: number;
  private readonly maxBufferedBytes: number;

  constructor(options: ChunkReaderOptions = {}) {
    this.maxMessageSize = positiveIntegerOption(options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, 'maxMessageSize');
    this.maxChunkStreams = positiveIntegerOption(options.maxChunkStreams, DEFAULT_MAX_CHUNK_STREAMS, 'maxChunkStreams', MAX_CSID);
    this.maxBufferedBytes = positiveIntegerOption(options.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, 'maxBufferedBytes');
    const mode = options.type3ExtendedTimestamp ?? 'detect';
    this.type3Mode = mode === 'always' ? 'present' : mode === 'never' ? 'absent' : 'unknown';
  }

  /** The peer's current chunk size (changed by the Set Chunk Size messages it sends). */
  get chunkSize(): number {
    return this.inChunkSize;
  }

  /** Total bytes fed so far; the Acknowledgement sequence number is this modulo 2^32. */
  get bytesRead(): number {
    return this.total;
  }

  /** Bytes currently held in partially received messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Parses `data` (any split of the stream) and returns the messages completed by it, in order. */
  feed(data: Buffer): RtmpMessage[] {
    this.total += data.length;
    const out: RtmpMessage[] = [];
    this.out = out;
    let pos = 0;
    const end = data.length;
    for (;;) {
      if (this.chunkRemaining > 0) {
        if (pos >= end) break;
        pos += this.consumeBody(data, pos, end);
        continue;
      }
      if (this.scratchLength === 0) {
        if (pos >= end) break;
        const h = this.parseHeader(data, pos, end);
        if (h === 0) {
          // Header incomplete: keep its bytes (fewer than MAX_HEADER_BYTES) for the next feed.
          data.copy(this.scratch, 0, pos, end);
          this.scratchLength = end - pos;
          break;
        }
        pos += h;
        continue;
      }
      // A header started in an earlier feed: complete it in the scratch buffer.
      if (pos >= end) break;
      const held = this.scratchLength;
      const take = Math.min(MAX_HEADER_BYTES - held, end - pos);
      data.copy(this.scratch, held, pos, pos + take);
      const h = this.parseHeader(this.scratch, 0, held + take);
      if (h === 0) {
        // Only when the data ran out: MAX_HEADER_BYTES always hold a whole header.
        this.scratchLength = held + take;
        break;
      }
      this.scratchLength = 0;
      if (h >= held) {
        pos += h - held;
        continue;
      }
      // The header was shorter than what was held (a type 3 chunk without a repeated extended timestamp):
      // the rest of the held bytes are chunk body, possibly followed by the start of the next header.
      const used = h + this.consumeBody(this.scratch, h, held);
      if (used < held) {
        this.scratch.copyWithin(0, used, held);
        this.scratchLength = held - used;
      }
    }
    this.out = [];
    return out;
  }

  /**
   * Parses one chunk header at `start`. Returns its length, or 0 when more bytes are needed (nothing changes
   * then). On success the chunk's body becomes current; a zero-length message is completed at once.
   */
  private parseHeader(buf: Buffer, start: number, end: number): number {
    let p = start;
    const b0 = buf[p];
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    if (csid === 0) {
      if (end - p < 2) return 0;
      csid = 64 + buf[p + 1];
      p += 2;
    } else if (csid === 1) {
      if (end - p < 3) return 0;
      csid = 64 + buf[p + 1] + (buf[p + 2] << 8);
      p += 3;
    } else {
      p += 1;
    }
    const headerBytes = MESSAGE_HEADER_BYTES[fmt];
    if (end - p < headerBytes) return 0;

    let st = this.streams.get(csid);
    if (st === undefined) {
      // A chunk stream must start with a full header. The one exception: librtmp opens chunk stream 2 with a
      // type 1 header; the only field it omits is the message stream id, which is 0 on chunk stream 2.
      if (fmt !== 0 && !(fmt === 1 && csid === MIN_CSID)) {
        throw new RtmpError('CHUNK_NO_PREVIOUS_HEADER', `chunk stream ${csid} starts with a type ${fmt} header`);
      }
      if (this.streams.size >= this.maxChunkStreams) {
        throw new RtmpError('CHUNK_TOO_MANY_STREAMS', `more than ${this.maxChunkStreams} chunk streams`);
      }
    } else if (fmt !== 3 && st.inMessage) {
      throw new RtmpError('CHUNK_HEADER_MID_MESSAGE', `type ${fmt} header on chunk stream ${csid} before its message ended`);
    }

    let field = 0;
    let length = 0;
    let type = 0;
    let streamId = 0;
    if (fmt <= 2) field = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2];
    if (fmt <= 1) {
      length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5];
      type = buf[p + 6];
    }
    if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
    p += headerBytes;

    let extendedValue = 0;
    let decidedMode = this.type3Mode;
    if (fmt <= 2) {
      if (field === TIMESTAMP_EXTENDED) {
        if (end - p < 4) return 0;
        extendedValue = buf.readUInt32BE(p);
        p += 4;
      }
    } else if (st !== undefined && st.extended && decidedMode !== 'absent') {
      if (end - p < 4) return 0;
      if (decidedMode === 'unknown') decidedMode = buf.readUInt32BE(p) === st.extendedValue ? 'present' : 'absent';
      if (decidedMode === 'present') p += 4;
    }

    // The header is complete: commit.
    this.type3Mode = decidedMode;
    if (st === undefined) {
      st = new ChunkStreamState(csid);
      this.streams.set(csid, st);
    }
    if (fmt === 3) {
      if (!st.inMessage) this.startMessage(st, (st.timestamp + st.delta) >>> 0);
      else this.startChunk(st);
      return p - start;
    }
    const extended = field === TIMESTAMP_EXTENDED;
    const value = extended ? extendedValue : field;
    st.extended = extended;
    st.extendedValue = extendedValue;
    if (fmt <= 1) {
      st.length = length;
      st.type = type;
    }
    if (fmt === 0) {
      st.streamId = streamId;
      // A type 3 chunk after a type 0 one repeats the type 0 timestamp as its delta (spec 5.3.1.2.4).
      st.delta = value;
      this.startMessage(st, value);
    } else {
      st.delta = value;
      this.startMessage(st, (st.timestamp + value) >>> 0);
    }
    return p - start;
  }

  private startMessage(st: ChunkStreamState, timestamp: number): void {
    if (st.length > this.maxMessageSize) {
      throw new RtmpError('CHUNK_MESSAGE_TOO_LARGE', `message of ${st.length} bytes exceeds ${this.maxMessageSize}`);
    }
    st.timestamp = timestamp;
    st.inMessage = true;
    st.filled = 0;
    st.buffer = null;
    if (st.length === 0) {
      this.complete(st, EMPTY);
      return;
    }
    this.startChunk(st);
  }

  private startChunk(st: ChunkStreamState): void {
    this.current = st;
    this.chunkRemaining = Math.min(this.inChunkSize, st.length - st.filled);
  }

  /** Takes body bytes of the current chunk from src[start, end); returns how many it took. */
  private consumeBody(src: Buffer, start: number, end: number): number {
    const st = this.current as ChunkStreamState;
    const n = Math.min(this.chunkRemaining, end - start);
    if (st.buffer === null) {
      if (st.filled === 0 && n === st.length && src !== this.scratch) {
        // The whole message is in one chunk of this feed: hand out a view, no copy.
        this.chunkRemaining = 0;
        this.current = null;
        this.complete(st, src.subarray(start, start + n));
        return n;
      }
      if (this.buffered + st.length > this.maxBufferedBytes) {
        throw new RtmpError('CHUNK_BUFFER_LIMIT', `more than ${this.maxBufferedBytes} bytes in partial messages`);
      }
      st.buffer = Buffer.allocUnsafe(st.length);
      this.buffered += st.length;
    }
    src.copy(st.buffer, st.filled, start, start + n);
    st.filled += n;
    this.chunkRemaining -= n;
    if (this.chunkRemaining === 0) {
      this.current = null;
      if (st.filled === st.length) {
        const payload = st.buffer;
        this.buffered -= st.length;
        this.complete(st, payload);
      }
    }
    return n;
  }

  private complete(st: ChunkStreamState, payload: Buffer): void {
    st.inMessage = false;
    st.buffer = null;
    st.filled = 0;
    this.out.push({ type: st.type, timestamp: st.timestamp, streamId: st.streamId, csid: st.csid, payload });
    // Control messages take effect at once: the very next chunk may already use the new size.
    if (st.type === MessageType.SetChunkSize) {
      this.inChunkSize = Math.min(decodeSetChunkSize(payload), MAX_EFFECTIVE_CHUNK_SIZE);
    } else if (st.type === MessageType.Abort) {
      this.abort(decodeAbort(payload));
    }
  }

  private abort(csid: number): void {
    const st = this.streams.get(csid);
    if (st === undefined || !st.inMessage) return;
    if (st.buffer !== null) this.buffered -= st.length;
    st.inMessage = false;
    st.buffer = null;
    st.filled = 0;
  }
}

/** Options for one ChunkWriter. */
export interface ChunkWriterOptions {
  /** Initial chunk size. Default 128 (what the peer assumes until told otherwise). */
  chunkSize?: number;
  /**
   * Use type 1/2/3 headers when the message stream id (and length/type/delta) repeat on a chunk stream.
   * Default false: every message starts with a type 0 header, which no reader can get wrong.
   */
  compressHeaders?: boolean;
}

/** What the writer remembers of the last message on a chunk stream, to compress the next header. */
interface LastHeader {
  streamId: number;
  length: number;
  type: number;
  timestamp: number;
  delta: number;
  /** The delta was sent explicitly (type 1/2/3), so a type 3 new message may reuse it. */
  explicitDelta: boolean;
}

/** Length of the basic header for a chunk stream id. */
export function basicHeaderLength(csid: number): 1 | 2 | 3 {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

/** Writes a basic header (1, 2 or 3 bytes) at `offset`; returns the offset after it. */
export function writeBasicHeader(buf: Buffer, offset: number, fmt: number, csid: number): number {
  if (csid < 64) {
    buf[offset] = (fmt << 6) | csid;
    return offset + 1;
  }
  const id = csid - 64;
  if (csid < 320) {
    buf[offset] = fmt << 6;
    buf[offset + 1] = id;
    return offset + 2;
  }
  buf[offset] = (fmt << 6) | 1;
  buf[offset + 1] = id & 0xff;
  buf[offset + 2] = id >> 8;
  return offset + 3;
}

function writeUInt24(buf: Buffer, offset: number, v: number): void {
  buf[offset] = (v >>> 16) & 0xff;
  buf[offset + 1] = (v >>> 8) & 0xff;
  buf[offset + 2] = v & 0xff;
}

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

/** The header chosen for one message. */
interface HeaderPlan {
  fmt: number;
  /** Absolute timestamp (type 0) or delta (types 1–3). */
  time: number;
  extended: boolean;
}

/**
 * Splits messages into chunks with its own chunk size. A message starts with a type 0 header (or a
 * compressed one, if enabled) and continues with type 3 chunks; an extended timestamp is repeated on every
 * type 3 chunk, as the spec requires.
 */
export class ChunkWriter {
  private outChunkSize: number;
  private readonly compress: boolean;
  private readonly last = new Map<number, LastHeader>();

  constructor(options: ChunkWriterOptions = {}) {
    this.outChunkSize = this.checkChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.compress = options.compressHeaders ?? false;
  }

  /** The chunk size this writer uses. */
  get chunkSize(): number {
    return this.outChunkSize;
  }

  /** Switches the chunk size for subsequent messages (send a Set Chunk Size first: see encodeSetChunkSize). */
  setChunkSize(size: number): void {
    this.outChunkSize = this.checkChunkSize(size);
  }

  /** Encodes a Set Chunk Size message at the current size, then switches to `size`. */
  encodeSetChunkSize(size: number, csid = 2): Buffer {
    const bytes = this.encode({ ...controlMessage(MessageType.SetChunkSize, encodeSetChunkSize(size)), csid });
    this.setChunkSize(size);
    return bytes;
  }

  private checkChunkSize(size: number): number {
    if (!isUint(size, MAX_SET_CHUNK_SIZE) || size < 1) {
      throw new RtmpError('CHUNK_INVALID_OPTION', `chunk size ${size} outside 1..${MAX_SET_CHUNK_SIZE}`);
    }
    return Math.min(size, MAX_EFFECTIVE_CHUNK_SIZE);
  }

  private plan(msg: RtmpMessage): HeaderPlan {
    const { csid, type, timestamp, streamId, payload } = msg;
    if (!isUint(csid, MAX_CSID) || csid < MIN_CSID) throw new RtmpError('CHUNK_INVALID_MESSAGE', `chunk stream id ${csid}`);
    if (!isUint(type, 0xff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `message type ${type}`);
    if (!isUint(timestamp, 0xffffffff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `timestamp ${timestamp}`);
    if (!isUint(streamId, 0xffffffff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `message stream id ${streamId}`);
    if (payload.length > MAX_MESSAGE_LENGTH) {
      throw new RtmpError('CHUNK_INVALID_MESSAGE', `payload of ${payload.length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
    }
    if (!this.compress) return { fmt: 0, time: timestamp, extended: timestamp >= TIMESTAMP_EXTENDED };

    const prev = this.last.get(csid);
    let fmt = 0;
    let time = timestamp;
    if (prev !== undefined && prev.streamId === streamId && timestamp >= prev.timestamp) {
      time = timestamp - prev.timestamp;
      if (prev.length !== payload.length || prev.type !== type) fmt = 1;
      else if (prev.explicitDelta && time === prev.delta && time < TIMESTAMP_EXTENDED) fmt = 3;
      else fmt = 2;
    }
    this.last.set(csid, {
      streamId,
      length: payload.length,
      type,
      timestamp,
      delta: time,
      explicitDelta: fmt !== 0,
    });
    return { fmt, time, extended: time >= TIMESTAMP_EXTENDED };
  }

  /** Writes the first chunk's header; returns its length (buf may be null to only measure). */
  private firstHeader(buf: Buffer | null, msg: RtmpMessage, plan: HeaderPlan): number {
    const length = basicHeaderLength(msg.csid) + MESSAGE_HEADER_BYTES[plan.fmt] + (plan.extended ? 4 : 0);
    if (buf === null) return length;
    let o = writeBasicHeader(buf, 0, plan.fmt, msg.csid);
    if (plan.fmt <= 2) {
      writeUInt24(buf, o, plan.extended ? TIMESTAMP_EXTENDED : plan.time);
      o += 3;
    }
    if (plan.fmt <= 1) {
      writeUInt24(buf, o, msg.payload.length);
      buf[o + 3] = msg.type;
      o += 4;
    }
    if (plan.fmt === 0) {
      buf.writeUInt32LE(msg.streamId, o);
      o += 4;
    }
    if (plan.extended) buf.writeUInt32BE(plan.time, o);
    return length;
  }

  /** Encodes one message as a single buffer: all its chunks, back to back. */
  encode(msg: RtmpMessage): Buffer {
    const plan = this.plan(msg);
    const payload = msg.payload;
    const size = this.outChunkSize;
    const firstLength = this.firstHeader(null, msg, plan);
    const chunks = payload.length === 0 ? 1 : Math.ceil(payload.length / size);
    const continuationLength = basicHeaderLength(msg.csid) + (plan.extended ? 4 : 0);
    const out = Buffer.allocUnsafe(firstLength + payload.length + (chunks - 1) * continuationLength);
    this.firstHeader(out, msg, plan);
    let o = firstLength;
    let p = Math.min(size, payload.length);
    payload.copy(out, o, 0, p);
    o += p;
    while (p < payload.length) {
      o = writeBasicHeader(out, o, 3, msg.csid);
      if (plan.extended) {
        out.writeUInt32BE(plan.time, o);
        o += 4;
      }
      const n = Math.min(size, payload.length - p);
      payload.copy(out, o, p, p + n);
      o += n;
      p += n;
    }
    return out;
  }

  /**
   * Encodes one message as a list of buffers for a vectored write: headers plus views of the payload
   * (the payload is not copied, so it must not change until written).
   */
  encodeVectored(msg: RtmpMessage): Buffer[] {
    const plan = this.plan(msg);
    const payload = msg.payload;
    const size = this.outChunkSize;
    const first = Buffer.allocUnsafe(this.firstHeader(null, msg, plan));
    this.firstHeader(first, msg, plan);
    const parts: Buffer[] = [first];
    let p = Math.min(size, payload.length);
    if (p > 0) parts.push(payload.subarray(0, p));
    if (p < payload.length) {
      const continuation = Buffer.allocUnsafe(basicHeaderLength(msg.csid) + (plan.extended ? 4 : 0));
      const o = writeBasicHeader(continuation, 0, 3, msg.csid);
      if (plan.extended) continuation.writeUInt32BE(plan.time, o);
      while (p < payload.length) {
        const n = Math.min(size, payload.length - p);
        parts.push(continuation, payload.subarray(p, p + n));
        p += n;
      }
    }
    return parts;
  }
}
