// Whether a silent origin connection is still alive, for a play session that may rightly receive nothing for a
// long time (a player waiting for its stream: src/rtmp/relay.ts; an edge upstream: src/edge/upstream.ts).
// An origin silent for half the idle timeout is pinged; one that answered a ping on this connection before and
// then gives no sign of life for another half is dead. One that never answers pings (node-media-server ignores
// them) is pinged once and then left to TCP keepalive: pinging it further would hold keepalive off (no probes
// while written data is unacknowledged). docs/BEHAVIOUR.md §4.7 and §11.6.
import type { RtmpLeg } from './leg.js';

/**
 * What one check found: `ok` (nothing to do), `pinged` (a ping was queued on the leg: the caller flushes it),
 * `pings off` (the origin never answered; it is not pinged again), `dead` (it answered pings before and stopped).
 */
export type OriginWatchVerdict = 'ok' | 'pinged' | 'pings off' | 'dead';

/** What of a leg the watch reads: bytes received, pongs counted, and a way to queue a ping. */
export type WatchedLeg = Pick<RtmpLeg, 'pongs' | 'ping'> & { readonly socket: { readonly bytesRead: number } };

export class OriginWatch {
  /** Bytes read from the origin at the last change, and when. */
  private read: number;
  private heardAt: number;
  /** When our outstanding ping went out (0: none), and the origin's pong count then. */
  private pingAt = 0;
  private pongsBefore = 0;
  /** The origin answered a ping on this connection / never answered one (pings are off then). */
  private answersPings = false;
  private pingsOff = false;

  /**
   * `now`: when the watch starts (the origin counts as heard then). `readBefore`: the bytes counted as already
   * heard (default: what the socket has read so far; a lower count makes the first check count the origin as heard).
   */
  constructor(
    private readonly leg: WatchedLeg,
    now: number,
    readBefore: number = leg.socket.bytesRead,
  ) {
    this.read = readBefore;
    this.heardAt = now;
  }

  /** How long the origin has been silent, as of the last check. */
  silentMs(now: number): number {
    return now - this.heardAt;
  }

  /** Called periodically (the owner's sweep) with the time and half the idle timeout. */
  check(now: number, halfMs: number): OriginWatchVerdict {
    const leg = this.leg;
    const read = leg.socket.bytesRead;
    if (read !== this.read) {
      this.read = read;
      this.heardAt = now;
    }
    if (this.pingAt !== 0) {
      if (leg.pongs > this.pongsBefore) {
        this.answersPings = true;
        this.pingAt = 0;
      } else if (this.heardAt > this.pingAt) {
        // Other traffic answered for it.
        this.pingAt = 0;
      } else if (now - this.pingAt >= halfMs) {
        this.pingAt = 0;
        if (this.answersPings) return 'dead';
        this.pingsOff = true;
        return 'pings off';
      }
    }
    if (this.pingAt === 0 && !this.pingsOff && now - this.heardAt >= halfMs) {
      this.pingAt = now;
      this.pongsBefore = leg.pongs;
      leg.ping(now);
      return 'pinged';
    }
    return 'ok';
  }
}
