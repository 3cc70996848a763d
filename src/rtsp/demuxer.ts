// Splits one direction of an RTSP connection into RTSP messages and interleaved binary frames
// (`$`, channel, 16-bit length, payload: RFC 2326 §10.12). Frames are passed on as slices of the
// received chunks, never copied or parsed; only message heads and bodies are buffered, and those
// are bounded (MAX_HEAD_BYTES, MAX_BODY_BYTES).
import { contentLength, MAX_HEAD_BYTES, parseHead, RtspParseError, type RtspMessage } from './message.js';

export type DemuxItem = { kind: 'frame'; bytes: Buffer } | { kind: 'message'; message: RtspMessage };

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;

export class RtspDemuxer {
  /** Bytes of the current frame (header included) not yet passed on. */
  private frameLeft = 0;
  /** A message (or frame header) split across chunks; grown by doubling so a byte-by-byte sender costs linear time. */
  private pending: Buffer = Buffer.alloc(0);
  private pendingLength = 0;
  /** Where to resume looking for the end of the head in `pending`. */
  private scanFrom = 0;

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.pendingLength;
  }

  /** Feeds one chunk; calls `emit` for each complete item in order. Throws RtspParseError on malformed input. */
  push(chunk: Buffer, emit: (item: DemuxItem) => void): void {
    let input = chunk;
    if (this.pendingLength > 0 && this.pending[0] === DOLLAR && this.pendingLength < 4) {
      // A frame header split across chunks: complete it, then go on with the chunk itself.
      const take = Math.min(4 - this.pendingLength, chunk.length);
      this.append(chunk.subarray(0, take));
      input = chunk.subarray(take);
      if (this.pendingLength < 4) return;
      this.frameLeft = 4 + this.pending.readUInt16BE(2) - 4;
      emit({ kind: 'frame', bytes: Buffer.from(this.pending.subarray(0, 4)) });
      this.pendingLength = 0;
    }
    if (this.pendingLength > 0) {
      // The rest of a message split across chunks. Frames that follow it in this chunk are copied out
      // (the buffer is reused); the common case, a chunk starting at a boundary, takes the path below.
      this.append(input);
      const buf = this.pending.subarray(0, this.pendingLength);
      const pos = this.scan(buf, true, emit);
      const rest = this.pendingLength - pos;
      if (pos > 0) this.pending.copy(this.pending, 0, pos, this.pendingLength);
      this.scanFrom = Math.max(0, this.scanFrom - pos);
      this.pendingLength = rest;
      this.shrink();
      return;
    }
    const pos = this.scan(input, false, emit);
    if (pos < input.length) {
      this.scanFrom = Math.max(0, this.scanFrom - pos);
      this.append(input.subarray(pos));
    }
  }

  /** Emits every complete item of `buf`; returns where the incomplete remainder starts. */
  private scan(buf: Buffer, copyFrames: boolean, emit: (item: DemuxItem) => void): number {
    let pos = 0;
    const end = buf.length;
    while (pos < end) {
      if (this.frameLeft > 0) {
        const n = Math.min(this.frameLeft, end - pos);
        const bytes = buf.subarray(pos, pos + n);
        emit({ kind: 'frame', bytes: copyFrames ? Buffer.from(bytes) : bytes });
        this.frameLeft -= n;
        pos += n;
        continue;
      }
      const first = buf[pos]!;
      if (first === CR || first === LF) {
        // Stray line ends between messages are tolerated (some clients send CRLF keep-alives).
        pos++;
        continue;
      }
      if (first === DOLLAR) {
        if (end - pos < 4) break;
        this.frameLeft = 4 + buf.readUInt16BE(pos + 2);
        continue;
      }
      const consumed = this.message(buf, pos, emit);
      if (consumed === 0) break;
      pos += consumed;
    }
    return pos;
  }

  /** Parses one message at `pos`; returns the bytes it took, 0 when it is not complete yet. */
  private message(buf: Buffer, pos: number, emit: (item: DemuxItem) => void): number {
    const from = Math.max(pos, this.scanFrom);
    const limit = Math.min(buf.length, pos + MAX_HEAD_BYTES + 4);
    let headEnd = -1;
    let sepLength = 0;
    for (let i = from; i < limit; i++) {
      if (buf[i] !== LF) continue;
      if (buf[i + 1] === LF) {
        headEnd = i;
        sepLength = 2;
        break;
      }
      if (buf[i + 1] === CR && buf[i + 2] === LF) {
        const crlf = buf[i - 1] === CR;
        headEnd = crlf ? i - 1 : i;
        sepLength = crlf ? 4 : 3;
        break;
      }
    }
    if (headEnd === -1) {
      if (buf.length - pos > MAX_HEAD_BYTES) throw new RtspParseError(400, `message head over ${MAX_HEAD_BYTES} bytes`);
      // Resume the search a few bytes back next time (a separator may straddle two chunks).
      this.scanFrom = Math.max(pos, buf.length - 3);
      return 0;
    }
    if (headEnd - pos > MAX_HEAD_BYTES) throw new RtspParseError(400, `message head over ${MAX_HEAD_BYTES} bytes`);
    const head = parseHead(buf.toString('latin1', pos, headEnd));
    const bodyStart = headEnd + sepLength;
    const length = contentLength(head.headers);
    if (buf.length - bodyStart < length) {
      this.scanFrom = pos;
      return 0;
    }
    // Copied: the message outlives the chunk it came in.
    const body = Buffer.from(buf.subarray(bodyStart, bodyStart + length));
    emit({ kind: 'message', message: { ...head, body } as RtspMessage });
    this.scanFrom = 0;
    return bodyStart + length - pos;
  }

  private append(chunk: Buffer): void {
    const need = this.pendingLength + chunk.length;
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pending.length * 2, 1024));
      this.pending.copy(grown, 0, 0, this.pendingLength);
      this.pending = grown;
    }
    chunk.copy(this.pending, this.pendingLength);
    this.pendingLength = need;
  }

  /** An emptied buffer that grew large is not kept for an idle connection. */
  private shrink(): void {
    if (this.pendingLength === 0 && this.pending.length > 4096) this.pending = Buffer.alloc(0);
  }
}
