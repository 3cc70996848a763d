// What a bench player received, message by message: the media time of every audio and video message that
// arrived while recording, so that players are compared by the messages they got over one range of media
// time (exact) rather than by bytes over a wall-clock window (whose edges fall between batches). The FLV
// and RTMP readers only walk headers and skip payloads: cheap enough for 2,000 players in one process.
import { ChunkReader } from '../../src/rtmp/chunk.js';

/** One player's log: audio and video message times (ms), as `time * 2 + (video ? 1 : 0)`. */
export class MediaLog {
  /** Newest media time received so far (recording or not); -1 before any. */
  newest = -1;
  recording = false;
  private keys = new Float64Array(1024);
  private n = 0;

  add(type: number, timestamp: number): void {
    if (type !== 8 && type !== 9) return;
    if (timestamp > this.newest) this.newest = timestamp;
    if (!this.recording) return;
    if (this.n === this.keys.length) {
      const grown = new Float64Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys[this.n++] = timestamp * 2 + (type === 9 ? 1 : 0);
  }

  /** The distinct messages recorded with a media time in (from, to]. */
  messagesIn(from: number, to: number, into?: Set<number>): number {
    const seen = new Set<number>();
    for (let i = 0; i < this.n; i++) {
      const k = this.keys[i]!;
      const t = Math.floor(k / 2);
      if (t > from && t <= to) {
        seen.add(k);
        into?.add(k);
      }
    }
    return seen.size;
  }
}

/** Walks an HTTP-FLV response: skips the HTTP head and the FLV header, then reads each tag's type and time. */
export class FlvTagWalker {
  /** Bytes of "\r\n\r\n" matched so far (4 = head done). */
  private headEnd = 0;
  /** Bytes to skip before the next tag header (the FLV header, then each payload + PreviousTagSize). */
  private skip = 13;
  private readonly header = Buffer.alloc(11);
  private headerFill = 0;

  constructor(private readonly log: MediaLog) {}

  feed(d: Buffer): void {
    let i = 0;
    while (this.headEnd < 4 && i < d.length) {
      const want = this.headEnd % 2 === 0 ? 0x0d : 0x0a;
      const c = d[i++];
      this.headEnd = c === want ? this.headEnd + 1 : c === 0x0d ? 1 : 0;
    }
    while (i < d.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, d.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(11 - this.headerFill, d.length - i);
      d.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      if (this.headerFill < 11) return;
      this.headerFill = 0;
      const h = this.header;
      const size = h.readUIntBE(1, 3);
      this.log.add(h[0]! & 0x1f, (h.readUIntBE(4, 3) | (h[7]! << 24)) >>> 0);
      this.skip = size + 4;
    }
  }
}

/** Reads an RTMP play's messages (after the handshake) into the log; payloads stay views, never copied. */
export class RtmpMessageWalker {
  private readonly reader = new ChunkReader({ zeroCopy: true });

  constructor(private readonly log: MediaLog) {}

  feed(d: Buffer): void {
    for (const m of this.reader.feed(d)) this.log.add(m.type, m.timestamp);
  }
}

/**
 * Every player's share of the media over one range of media time: (from, to] is after the newest message
 * any player had when the window started, up to the newest any player had when it ended. The reference is
 * every distinct message any player got in that range (the players share one upstream, so each message the
 * upstream read reaches at least the players that keep up); a player that got every message shows 100 %.
 */
export function mediaShares(
  logs: readonly MediaLog[],
  from: number,
  to: number,
): { received: number[]; reference: number; video: number; audio: number; spanMs: number } {
  const all = new Set<number>();
  const received = logs.map((l) => l.messagesIn(from, to, all));
  let video = 0;
  for (const k of all) if (k % 2 === 1) video++;
  return { received, reference: all.size, video, audio: all.size - video, spanMs: to - from };
}
