// Every relay the proxy holds to an origin (an RTMP connection, an HTTP live response, an SRT session,
// a WebRTC session), counted per origin and per stream. The counts feed load scores and the pin rules
// (a stream with a live relay keeps its pin); closeOrigin ends every relay to an origin declared down.

export interface RelayInfo {
  /** The origin's server id (stable across its restarts; what health verdicts are about). */
  originServerId: string;
  streamKey: string;
  /** Ends the relay (closes the client and origin legs); must be safe to call more than once. */
  close(): void;
}

export interface RelayHandle {
  /** The relay ended: forget it. Safe to call more than once. */
  release(): void;
}

export class RelayRegistry {
  private readonly byOrigin = new Map<string, Set<RelayInfo>>();
  private readonly byStream = new Map<string, number>();
  /** The origin (server id) the latest live relay of each stream goes to. */
  private readonly originByStream = new Map<string, string>();

  /** Registers a live relay; call `release()` on the handle when it ends. */
  register(relay: RelayInfo): RelayHandle {
    let set = this.byOrigin.get(relay.originServerId);
    if (!set) this.byOrigin.set(relay.originServerId, (set = new Set()));
    set.add(relay);
    this.byStream.set(relay.streamKey, (this.byStream.get(relay.streamKey) ?? 0) + 1);
    this.originByStream.set(relay.streamKey, relay.originServerId);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.forget(relay);
      },
    };
  }

  /** Live relays to an origin (by server id). */
  countByOrigin(originServerId: string): number {
    return this.byOrigin.get(originServerId)?.size ?? 0;
  }

  /** Live relays of a stream (any origin). */
  countByStream(streamKey: string): number {
    return this.byStream.get(streamKey) ?? 0;
  }

  /** The origin (server id) a live relay of the stream goes to, if this proxy relays the stream. */
  originOfStream(streamKey: string): string | undefined {
    return this.originByStream.get(streamKey);
  }

  /** Live relay counts of every origin that has any. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, set] of this.byOrigin) out.set(id, set.size);
    return out;
  }

  /** Total live relays. */
  get size(): number {
    let n = 0;
    for (const set of this.byOrigin.values()) n += set.size;
    return n;
  }

  /**
   * Closes every relay to an origin (it is down: players and encoders reconnect and land elsewhere).
   * Returns how many were closed. A relay's close() that throws does not stop the others.
   */
  closeOrigin(originServerId: string): number {
    const set = this.byOrigin.get(originServerId);
    if (!set) return 0;
    const relays = [...set];
    for (const r of relays) {
      this.forget(r);
      try {
        r.close();
      } catch {
        // a relay already half torn down; it is forgotten either way
      }
    }
    return relays.length;
  }

  private forget(relay: RelayInfo): void {
    const set = this.byOrigin.get(relay.originServerId);
    if (!set?.delete(relay)) return;
    if (set.size === 0) this.byOrigin.delete(relay.originServerId);
    const n = (this.byStream.get(relay.streamKey) ?? 1) - 1;
    if (n <= 0) {
      this.byStream.delete(relay.streamKey);
      this.originByStream.delete(relay.streamKey);
    } else this.byStream.set(relay.streamKey, n);
  }
}
