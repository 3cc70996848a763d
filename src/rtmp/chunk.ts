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
  payloadLength,
  SplitPayloadMessage,
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
/** ChunkWriter.encodeTo copies payloads up to this size (cheaper than one more part in a vectored write). */
const SMALL_PAYLOAD_BYTES = 2048;
/** Size of ChunkWriter.encodeTo's header slabs. */
const SLAB_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/**
 * First allocation for a message split over chunks. Larger messages grow their buffer as bytes arrive, so a
 * header that announces 16 MiB costs memory only once the bytes are really sent.
 */
const INITIAL_REASSEMBLY_BYTES = 64 * 1024;
/** zeroCopy applies to messages at least this long, arriving in chunks at least this large (else copying is cheaper). */
const ZERO_COPY_MIN_BYTES = 4096;
const ZERO_COPY_MIN_CHUNK = 1024;
/** ChunkWriter.encodeTo's first slab; later ones double up to SLAB_BYTES (an idle connection keeps little). */
const MIN_SLAB_BYTES = 512;

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
  /**
   * Keep a large message that arrives in several chunks as views of the fed buffers (a SplitPayloadMessage)
   * instead of copying it into a new buffer. Default false.
   */
  zeroCopy?: boolean;
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
  /** Reassembly buffer (grown towards the message length as bytes arrive) or null while no byte is held. */
  buffer: Buffer | null = null;
  /** zeroCopy: views of the received chunks, instead of `buffer`. */
  parts: Buffer[] | null = null;
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
  private readonly zeroCopy: boolean;

  constructor(options: ChunkReaderOptions = {}) {
    this.zeroCopy = options.zeroCopy ?? false;
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

  /** Announced length of the messages being reassembled (what maxBufferedBytes caps). */
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
      // A type 3 chunk after a type 0 one repeats the type 0 timestamp as its delta (RTMP specification 1.0 §5.3.1.2.4).
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
    st.parts = null;
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
    if (st.buffer === null && st.parts === null) {
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
      if (this.zeroCopy && st.length >= ZERO_COPY_MIN_BYTES && this.inChunkSize >= ZERO_COPY_MIN_CHUNK) {
        st.parts = [];
      } else {
        // One buffer per message, not a shared slab: buffers that die young are freed by the cheap young-
        // generation collection, while a slab outlives it and makes V8 run full collections (measured).
        st.buffer = Buffer.allocUnsafe(Math.min(st.length, Math.max(INITIAL_REASSEMBLY_BYTES, n)));
      }
      this.buffered += st.length;
    }
    if (st.parts !== null) {
      // The scratch buffer is reused: its bytes are copied; fed buffers are only viewed.
      st.parts.push(src === this.scratch ? Buffer.from(src.subarray(start, start + n)) : src.subarray(start, start + n));
    } else {
      let buffer = st.buffer!;
      if (st.filled + n > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(st.length, Math.max(buffer.length * 2, st.filled + n)));
        buffer.copy(grown, 0, 0, st.filled);
        st.buffer = buffer = grown;
      }
      src.copy(buffer, st.filled, start, start + n);
    }
    st.filled += n;
    this.chunkRemaining -= n;
    if (this.chunkRemaining === 0) {
      this.current = null;
      if (st.filled === st.length) {
        this.buffered -= st.length;
        if (st.parts !== null) this.completeParts(st);
        else this.complete(st, st.buffer!);
      }
    }
    return n;
  }

  private completeParts(st: ChunkStreamState): void {
    const parts = st.parts!;
    st.inMessage = false;
    st.parts = null;
    st.filled = 0;
    const msg = new SplitPayloadMessage(st.type, st.timestamp, st.streamId, st.csid, parts, st.length);
    // Control messages are never this large: only media and data get here, but keep the rule anyway.
    if (st.type === MessageType.SetChunkSize || st.type === MessageType.Abort) this.complete(st, msg.payload);
    else this.out.push(msg);
  }

  private complete(st: ChunkStreamState, payload: Buffer): void {
    st.inMessage = false;
    st.buffer = null;
    st.parts = null;
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
    if (st.buffer !== null || st.parts !== null) this.buffered -= st.length;
    st.inMessage = false;
    st.buffer = null;
    st.parts = null;
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
  /** encodeTo: headers and small payloads are copied here; a full slab is replaced (never reused). */
  private slab: Buffer = EMPTY;
  private slabPos = 0;
  /** encodeTo: the last view of the slab pushed to an output list, so adjacent copies merge into one part. */
  private lastPart: Buffer | null = null;
  private lastPartStart = 0;

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
    const { csid, type, timestamp, streamId } = msg;
    const length = payloadLength(msg);
    if (!isUint(csid, MAX_CSID) || csid < MIN_CSID) throw new RtmpError('CHUNK_INVALID_MESSAGE', `chunk stream id ${csid}`);
    if (!isUint(type, 0xff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `message type ${type}`);
    if (!isUint(timestamp, 0xffffffff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `timestamp ${timestamp}`);
    if (!isUint(streamId, 0xffffffff)) throw new RtmpError('CHUNK_INVALID_MESSAGE', `message stream id ${streamId}`);
    if (length > MAX_MESSAGE_LENGTH) {
      throw new RtmpError('CHUNK_INVALID_MESSAGE', `payload of ${length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
    }
    if (!this.compress) return { fmt: 0, time: timestamp, extended: timestamp >= TIMESTAMP_EXTENDED };

    const prev = this.last.get(csid);
    let fmt = 0;
    let time = timestamp;
    if (prev !== undefined && prev.streamId === streamId && timestamp >= prev.timestamp) {
      time = timestamp - prev.timestamp;
      if (prev.length !== length || prev.type !== type) fmt = 1;
      else if (prev.explicitDelta && time === prev.delta && time < TIMESTAMP_EXTENDED) fmt = 3;
      else fmt = 2;
    }
    this.last.set(csid, {
      streamId,
      length: length,
      type,
      timestamp,
      delta: time,
      explicitDelta: fmt !== 0,
    });
    return { fmt, time, extended: time >= TIMESTAMP_EXTENDED };
  }

  /** Writes the first chunk's header at `at`; returns its length (buf may be null to only measure). */
  private firstHeader(buf: Buffer | null, msg: RtmpMessage, plan: HeaderPlan, at = 0): number {
    const length = basicHeaderLength(msg.csid) + MESSAGE_HEADER_BYTES[plan.fmt] + (plan.extended ? 4 : 0);
    if (buf === null) return length;
    let o = writeBasicHeader(buf, at, plan.fmt, msg.csid);
    if (plan.fmt <= 2) {
      writeUInt24(buf, o, plan.extended ? TIMESTAMP_EXTENDED : plan.time);
      o += 3;
    }
    if (plan.fmt <= 1) {
      writeUInt24(buf, o, payloadLength(msg));
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

  /**
   * Appends the chunks of `msg` to `out` for one vectored write of many messages: headers and payloads of up
   * to SMALL_PAYLOAD_BYTES are copied into an internal slab (adjacent copies merge into one part), larger
   * payloads are referenced (not copied: they must not change until written). No per-message allocation.
   */
  encodeTo(msg: RtmpMessage, out: Buffer[]): void {
    if (msg instanceof SplitPayloadMessage) {
      this.encodePartsTo(msg, out);
      return;
    }
    const plan = this.plan(msg);
    const payload = msg.payload;
    const size = this.outChunkSize;
    const firstLength = this.firstHeader(null, msg, plan);
    if (payload.length <= size && payload.length <= SMALL_PAYLOAD_BYTES) {
      const at = this.reserve(firstLength + payload.length, out);
      this.firstHeader(this.slab, msg, plan, at);
      payload.copy(this.slab, at + firstLength);
      this.commit(at, firstLength + payload.length, out);
      return;
    }
    const at = this.reserve(firstLength, out);
    this.firstHeader(this.slab, msg, plan, at);
    this.commit(at, firstLength, out);
    let p = Math.min(size, payload.length);
    out.push(p === payload.length ? payload : payload.subarray(0, p));
    if (p >= payload.length) return;
    const continuation = this.continuationHeader(msg, plan, out);
    while (p < payload.length) {
      const n = Math.min(size, payload.length - p);
      out.push(continuation, payload.subarray(p, p + n));
      p += n;
    }
  }

  /** encodeTo for a payload kept in parts: the parts are cut at chunk boundaries, never copied or joined. */
  private encodePartsTo(msg: SplitPayloadMessage, out: Buffer[]): void {
    const plan = this.plan(msg);
    const size = this.outChunkSize;
    const firstLength = this.firstHeader(null, msg, plan);
    const at = this.reserve(firstLength, out);
    this.firstHeader(this.slab, msg, plan, at);
    this.commit(at, firstLength, out);
    let continuation: Buffer | null = null;
    let inChunk = 0;
    for (const part of msg.parts) {
      let off = 0;
      while (off < part.length) {
        if (inChunk === size) {
          continuation ??= this.continuationHeader(msg, plan, out);
          out.push(continuation);
          inChunk = 0;
        }
        const n = Math.min(size - inChunk, part.length - off);
        out.push(off === 0 && n === part.length ? part : part.subarray(off, off + n));
        off += n;
        inChunk += n;
      }
    }
  }

  /** A type 3 header for `msg`, written once into the slab (it is the same for every later chunk). */
  private continuationHeader(msg: RtmpMessage, plan: HeaderPlan, out: Buffer[]): Buffer {
    const length = basicHeaderLength(msg.csid) + (plan.extended ? 4 : 0);
    const at = this.reserve(length, out);
    const o = writeBasicHeader(this.slab, at, 3, msg.csid);
    if (plan.extended) this.slab.writeUInt32BE(plan.time, o);
    this.slabPos = at + length;
    return this.slab.subarray(at, at + length);
  }

  /** Where `n` bytes can be written in the slab (a fresh slab when the current one is full). */
  private reserve(n: number, out: Buffer[]): number {
    if (this.slabPos + n > this.slab.length) {
      // Never from Node's shared pool: a long-lived small slab there would pin a whole 8 KiB pool chunk.
      this.slab = Buffer.allocUnsafeSlow(Math.max(Math.min(SLAB_BYTES, Math.max(MIN_SLAB_BYTES, this.slab.length * 2)), n));
      this.slabPos = 0;
      this.lastPart = null;
    }
    // Only a part that is still the last one of this very list may be extended.
    if (this.lastPart !== null && out[out.length - 1] !== this.lastPart) this.lastPart = null;
    return this.slabPos;
  }

  /** Records slab bytes [at, at + n) as output, merged with the previous part when adjacent. */
  private commit(at: number, n: number, out: Buffer[]): void {
    this.slabPos = at + n;
    if (this.lastPart !== null && this.lastPartStart + this.lastPart.length === at) {
      this.lastPart = this.slab.subarray(this.lastPartStart, at + n);
      out[out.length - 1] = this.lastPart;
      return;
    }
    this.lastPart = this.slab.subarray(at, at + n);
    this.lastPartStart = at;
    out.push(this.lastPart);
  }
}
