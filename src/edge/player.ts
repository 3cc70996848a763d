// What every edge player does, whatever its protocol: take the stream's start (cached headers and GOP)
// and then live batches through its lag queue, write them with one corked write per batch while its socket
// has room, and report a socket that takes nothing for the idle timeout (the hub's sweep closes it).
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { HIGH_WATER, LagQueue } from './lag.js';
import type { MediaPacket, SharedBatch } from './media.js';
import type { EdgeFailure, StreamEnd } from './types.js';

export interface PlayerOptions {
  maxLagMs: number;
  maxQueueBytes: number;
}

export abstract class EdgePlayer {
  abstract readonly protocol: 'rtmp' | 'flv';
  protected readonly queue: LagQueue;
  protected started = false;
  protected closed = false;
  private draining = false;
  private takenBytes = -1;
  private takenAt = 0;
  /** Set by the hub: the player left (socket closed, stopped, stalled). */
  onGone: (() => void) | undefined;
  /** Set by the hub: whether the stream carried video. */
  hasVideo: () => boolean = () => false;

  protected constructor(
    readonly socket: Socket,
    protected readonly log: Logger,
    o: PlayerOptions,
  ) {
    this.queue = new LagQueue({ maxLagMs: o.maxLagMs, maxQueueBytes: o.maxQueueBytes, hasVideo: () => this.hasVideo() });
    socket.once('close', this.gone);
  }

  /** The encoded bytes of a packet for this protocol (shared by every player of the protocol). */
  protected abstract encode(p: MediaPacket): Buffer;
  /** Which players get the same bytes for a batch (protocol and whatever else the encoding depends on). */
  protected abstract readonly encodingKey: string;
  /** The protocol's answer that the stream starts (statuses / response head). */
  protected abstract sendStart(): void;
  /** The upstream could not start: tell the player in its protocol and close. */
  abstract fail(f: EdgeFailure): void;
  /** The stream ended: tell the player in its protocol and close. */
  abstract end(reason: StreamEnd): void;

  /** Lag statistics of this player. */
  get skips(): number {
    return this.queue.lag.skips;
  }

  /** The stream starts for this player: its start answer, then the cache (or a wait for the next keyframe). */
  begin(snapshot: readonly MediaPacket[], cacheReady: boolean): void {
    if (this.closed) return;
    this.sendStart();
    this.started = true;
    if (!cacheReady) this.queue.waitKeyframe = true;
    this.deliver(snapshot);
  }

  /** A batch of the stream's packets. */
  deliver(batch: readonly MediaPacket[], shared?: SharedBatch): void {
    if (!this.started || this.closed || batch.length === 0) return;
    const s = this.socket;
    if (shared !== undefined && this.queue.length === 0 && !this.queue.waitKeyframe && s.writableLength < HIGH_WATER && !s.destroyed) {
      // The usual case: the player keeps up, so it gets the batch as every such player of its protocol does.
      s.write(shared.bytes(this.encodingKey, this.encoder));
      return;
    }
    this.queue.push(batch);
    this.flush();
    // Only what the socket could not take counts as lag.
    if (this.queue.length > 0) this.queue.applyLag(batch[batch.length - 1]!.timestamp);
  }

  private readonly encoder = (p: MediaPacket): Buffer => this.encode(p);

  private flush(): void {
    const s = this.socket;
    if (s.destroyed) return;
    while (this.queue.length > 0 && s.writableLength < HIGH_WATER) {
      const packets = this.queue.take(HIGH_WATER - s.writableLength);
      if (packets.length === 1) s.write(this.encode(packets[0]!));
      else {
        s.cork();
        for (let i = 0; i < packets.length; i++) s.write(this.encode(packets[i]!));
        s.uncork();
      }
    }
    if (this.queue.length > 0 && !this.draining) {
      this.draining = true;
      s.once('drain', () => {
        this.draining = false;
        if (!this.closed) this.flush();
      });
    }
  }

  /** True when bytes wait for the player and it took none of them for `idleMs`. */
  stalled(now: number, idleMs: number): boolean {
    const s = this.socket;
    const waiting = s.writableLength;
    const taken = waiting === 0 ? -1 : s.bytesWritten - waiting;
    if (waiting === 0 || taken !== this.takenBytes) {
      this.takenBytes = taken;
      this.takenAt = now;
      return false;
    }
    return now - this.takenAt >= idleMs;
  }

  /** Closes the player without a word (it stalled, or the proxy stops). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  /** Ends the socket after what is queued, destroying it if the player does not read that within a second. */
  protected finish(): void {
    this.closed = true;
    const s = this.socket;
    s.end();
    setTimeout(() => s.destroy(), 1000).unref();
  }

  private readonly gone = (): void => {
    this.closed = true;
    const cb = this.onGone;
    this.onGone = undefined;
    cb?.();
  };
}
