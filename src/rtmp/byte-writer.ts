// A growable big-endian byte sink for the AMF encoders (not used on the media path).
import { RtmpError } from './errors.js';

/** Appends bytes to a buffer that doubles when full; `finish()` returns a view of what was written. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) {
      let size = Math.max(64, this.buf.length * 2);
      while (size < at + n) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.len = at + n;
    return at;
  }

  // Each writer reserves first: reserve() may replace this.buf, so it must not be read before.
  /** Appends one byte. */
  u8(v: number): void {
    const at = this.reserve(1);
    this.buf[at] = v;
  }

  /** Appends a big-endian uint16. */
  u16(v: number): void {
    const at = this.reserve(2);
    this.buf.writeUInt16BE(v, at);
  }

  /** Appends a big-endian int16. */
  i16(v: number): void {
    const at = this.reserve(2);
    this.buf.writeInt16BE(v, at);
  }

  /** Appends a big-endian uint32. */
  u32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeUInt32BE(v, at);
  }

  /** Appends a big-endian IEEE-754 double. */
  f64(v: number): void {
    const at = this.reserve(8);
    this.buf.writeDoubleBE(v, at);
  }

  /** Appends raw bytes. */
  bytes(src: Buffer): void {
    const at = this.reserve(src.length);
    src.copy(this.buf, at);
  }

  /** Writes `str` as UTF-8 preceded by its byte length in `lengthBytes` (2 or 4) bytes. */
  lengthPrefixedUtf8(str: string, lengthBytes: 2 | 4): void {
    const n = Buffer.byteLength(str, 'utf8');
    if (lengthBytes === 2 && n > 0xffff) throw new RtmpError('AMF_ENCODE', `string of ${n} bytes does not fit a 16-bit length`);
    if (n > 0xffffffff) throw new RtmpError('AMF_ENCODE', `string of ${n} bytes does not fit a 32-bit length`);
    if (lengthBytes === 2) this.u16(n);
    else this.u32(n);
    const at = this.reserve(n);
    this.buf.write(str, at, n, 'utf8');
  }

  /** The bytes written (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
