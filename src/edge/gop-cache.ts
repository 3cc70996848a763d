// What a late player of an edge stream needs to start at once: the stream's metadata, its audio and
// video sequence headers, and the packets from the last keyframe on (the current GOP). Bounded in bytes:
// a new keyframe drops the previous GOP (the oldest one), and a GOP that outgrows the bound is dropped
// whole — late players then wait for the next keyframe, as they would without a cache.
import type { MediaPacket } from './media.js';

export interface GopCacheStats {
  /** Bytes held (payloads). */
  bytes: number;
  /** Packets of the current GOP held. */
  packets: number;
  /** GOPs dropped for going past the bound. */
  overflows: number;
  /** The most bytes held at once (after each packet was taken in or dropped). */
  peak: number;
}

export class GopCache {
  private metadata: MediaPacket | undefined;
  private videoHeader: MediaPacket | undefined;
  private audioHeader: MediaPacket | undefined;
  private gop: MediaPacket[] = [];
  private gopBytes = 0;
  /** Whether the current GOP is being kept (false after an overflow until the next keyframe). */
  private keeping = false;
  private overflows = 0;
  private peak = 0;
  /** Whether the stream carried video so far (audio-only streams need no keyframe to start). */
  hasVideo = false;

  constructor(private readonly maxBytes: number) {}

  add(p: MediaPacket): void {
    if (p.metadata) {
      this.metadata = p;
      return;
    }
    if (p.header) {
      if (p.video) {
        this.videoHeader = p;
        this.hasVideo = true;
      } else this.audioHeader = p;
      return;
    }
    if (p.video) this.hasVideo = true;
    if (p.keyframe) {
      this.gop = [];
      this.gopBytes = 0;
      this.keeping = true;
    }
    if (!this.keeping) return;
    this.gop.push(p);
    this.gopBytes += p.bytes;
    const held = this.headerBytes() + this.gopBytes;
    if (held > this.maxBytes) {
      this.gop = [];
      this.gopBytes = 0;
      this.keeping = false;
      this.overflows++;
    } else if (held > this.peak) this.peak = held;
  }

  /** Whether a late player can start at a keyframe from the cache. */
  get ready(): boolean {
    return this.gop.length > 0;
  }

  /**
   * What a new player gets first: metadata at time 0 (FFmpeg takes a script tag at any other time for a
   * subtitle track), sequence headers stamped with the GOP's first timestamp (so its timeline starts there),
   * then the current GOP. Without a GOP: the headers only.
   */
  snapshot(): MediaPacket[] {
    const first = this.gop[0]?.timestamp;
    const out: MediaPacket[] = [];
    if (this.metadata) out.push(this.metadata.timestamp === 0 ? this.metadata : this.metadata.at(0));
    for (const h of [this.videoHeader, this.audioHeader]) {
      if (h) out.push(first === undefined ? h : h.at(first));
    }
    for (const p of this.gop) out.push(p);
    return out;
  }

  stats(): GopCacheStats {
    const bytes = this.headerBytes() + this.gopBytes;
    return { bytes, packets: this.gop.length, overflows: this.overflows, peak: Math.max(this.peak, bytes) };
  }

  private headerBytes(): number {
    return (this.metadata?.bytes ?? 0) + (this.videoHeader?.bytes ?? 0) + (this.audioHeader?.bytes ?? 0);
  }
}
