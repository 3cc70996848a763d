// One player's queue of an edge stream, and its lag rule. Packets are shared (never copied per player);
// a player's socket gets them while it holds less than HIGH_WATER bytes, the rest wait here. A player more
// than `maxLagMs` of media behind the stream (the newest packet's time minus its oldest waiting packet's)
// skips to the newest keyframe waiting for it, or — with none waiting — drops everything and waits for the
// next one: whole GOPs only, never part of a frame run. Sequence headers and metadata are never dropped.
// The upstream never waits for a player.
import type { MediaPacket } from './media.js';

/** Bytes a player's socket may hold before packets wait in its queue (about 1 s at 2 Mb/s). */
export const HIGH_WATER = 256 * 1024;

export interface LagOptions {
  maxLagMs: number;
  /** Queue bytes past which the player also skips (a stream of huge frames within the time bound). */
  maxQueueBytes: number;
  /** Whether the stream has video (then a player that skipped waits for a keyframe before any audio too). */
  hasVideo: () => boolean;
}

export interface LagStats {
  /** Times the player skipped ahead. */
  skips: number;
  /** Packets dropped by those skips. */
  dropped: number;
}

export class LagQueue {
  private queue: MediaPacket[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** After a skip (or at a start without a cached keyframe): drop frames until the next keyframe. */
  waitKeyframe = false;
  readonly lag: LagStats = { skips: 0, dropped: 0 };

  constructor(private readonly o: LagOptions) {}

  /** Queues a batch for the player (then write what the socket takes, then `applyLag`). */
  push(batch: readonly MediaPacket[]): void {
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      if (this.waitKeyframe && !p.header && !p.metadata) {
        if (p.keyframe) this.waitKeyframe = false;
        else if (p.video || this.o.hasVideo()) {
          this.lag.dropped++;
          continue;
        }
      }
      this.queue.push(p);
      this.queuedBytes += p.bytes;
    }
  }

  /** Packets waiting. */
  get length(): number {
    return this.queue.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Takes waiting packets, oldest first, up to about `budget` bytes (at least one). */
  take(budget: number): MediaPacket[] {
    const out: MediaPacket[] = [];
    let n = 0;
    while (this.head < this.queue.length && (out.length === 0 || n < budget)) {
      const p = this.queue[this.head++]!;
      out.push(p);
      n += p.bytes;
      this.queuedBytes -= p.bytes;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Media time between the oldest waiting packet and `newest` (0 when nothing waits). */
  lagMs(newest: number): number {
    if (this.head >= this.queue.length) return 0;
    return (newest - this.queue[this.head]!.timestamp) | 0;
  }

  /** The lag rule, against the stream's newest packet time: skips ahead when what waits is too far behind. */
  applyLag(newest: number): void {
    if (this.lagMs(newest) <= this.o.maxLagMs && this.queuedBytes <= this.o.maxQueueBytes) return;
    // The newest keyframe waiting (not the oldest packet itself: skipping to it would drop nothing):
    // everything before it goes, but headers and metadata stay.
    let key = -1;
    for (let i = this.queue.length - 1; i > this.head; i--) {
      if (this.queue[i]!.keyframe) {
        key = i;
        break;
      }
    }
    const kept: MediaPacket[] = [];
    const end = key === -1 ? this.queue.length : key;
    for (let i = this.head; i < end; i++) {
      const p = this.queue[i]!;
      if (p.header || p.metadata) kept.push(p);
      else this.lag.dropped++;
    }
    const rest = key === -1 ? [] : this.queue.slice(key);
    this.queue = kept.concat(rest);
    this.head = 0;
    this.queuedBytes = 0;
    for (const p of this.queue) this.queuedBytes += p.bytes;
    this.lag.skips++;
    // No keyframe waiting: whatever comes next is mid-GOP, so wait for the next keyframe.
    if (key === -1) this.waitKeyframe = true;
  }
}
