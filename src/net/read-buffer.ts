// The memory an origin socket reads into (net's `onread`; the RTSP relay and the HTTP-FLV/TS pipe). By default Node allocates a fresh 64 KiB buffer for
// every read; at tens of MB/s that garbage, not the relaying, was most of the proxy's CPU. Here one buffer is
// reused from read to read. Bytes are handed on as slices of it, so a slice the client's socket could not take
// at once (still queued: the writer's backlog) must keep its memory: the caller says so and the next read gets a
// fresh buffer, the old one living as long as the queued write. The buffer starts small (an idle connection's
// few answers fit) and grows to `max` once a read fills it.

export const READ_BUFFER_MIN = 4 * 1024;
export const READ_BUFFER_MAX = 64 * 1024;

export class ReadBuffer {
  private buf: Buffer;

  constructor(
    private readonly min = READ_BUFFER_MIN,
    private readonly max = READ_BUFFER_MAX,
  ) {
    this.buf = Buffer.allocUnsafe(this.min);
  }

  /** For `onread.buffer`: where the next read goes (Node asks after every read). */
  readonly next = (): Buffer => this.buf;

  /** Bytes of the current buffer. */
  get size(): number {
    return this.buf.length;
  }

  /** After a read of `n` bytes was handed on; `retained`: some of it still waits in a write queue. */
  settle(n: number, retained: boolean): void {
    const size = n >= this.buf.length ? this.max : this.buf.length;
    if (retained || size !== this.buf.length) this.buf = Buffer.allocUnsafe(size);
  }
}
