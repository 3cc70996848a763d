// Client counters of the HTTP stream listener: live FLV/TS responses are clients like any relay (one
// arrival per request); HLS and DASH are request-based. The session parameter is one per stream (every
// player of a stream shares it), so a player is a client address asking for one stream's playlists or
// segments: it counts while it has asked for something within PLAYER_IDLE_MS. Those players are counted
// and summed per stream (`GET /api/v1/streams`), not listed one by one, and cannot be kicked (each
// request is its own exchange). The table is bounded in count (MAX_PLAYERS, least recently seen
// evicted; an entry is a stream key and a label); a request costs one map touch.
import { TtlMap } from '../balancer/ttl-map.js';
import { ClientCounters } from '../net/client-stats.js';
import type { ServiceStats } from '../net/service-stats.js';
import type { ClientProtocol } from '../routing/relays.js';
import { extensionOf, type StreamRequestKind } from './classify.js';

/** A session that asked for nothing for this long is no longer counted as a player (a few segment durations). */
export const PLAYER_IDLE_MS = 30_000;
/** Most HLS/DASH sessions tracked at once; the least recently seen one is dropped beyond. */
export const MAX_PLAYERS = 10_000;

export type HttpProtocol = 'flv' | 'ts' | 'hls' | 'dash';

interface HttpPlayer {
  streamKey: string;
  protocol: 'hls' | 'dash';
}

export class HttpStreamStats {
  readonly flv: ClientCounters;
  readonly ts: ClientCounters;
  readonly hls: ClientCounters;
  readonly dash: ClientCounters;
  private readonly players: TtlMap<string, HttpPlayer>;

  constructor(now: () => number = Date.now) {
    this.flv = new ClientCounters('flv', now);
    this.ts = new ClientCounters('ts', now);
    this.hls = new ClientCounters('hls', now);
    this.dash = new ClientCounters('dash', now);
    this.players = new TtlMap(PLAYER_IDLE_MS, MAX_PLAYERS, now);
  }

  counters(protocol: HttpProtocol): ClientCounters {
    return this[protocol];
  }

  /** The protocol label of a request (undefined: a static file, not counted). */
  protocolOf(kind: StreamRequestKind, path: string, session: string | null): HttpProtocol | undefined {
    switch (kind) {
      case 'playlist':
        return 'hls';
      case 'manifest':
        return 'dash';
      case 'segment':
        // fMP4 fragments are DASH's; HLS uses them too, but its players fetch a playlist first.
        return session !== null && /^(m4s|mp4|m4a|m4v)$/.test(extensionOf(path)) ? 'dash' : 'hls';
      case 'live':
      case 'maybe-segment':
        // AAC/MP3 live audio counts with HTTP-FLV: both are continuous HTTP streams of one stream.
        return extensionOf(path) === 'ts' ? 'ts' : 'flv';
      case 'static':
        return undefined;
    }
  }

  /**
   * An HLS/DASH request answered for a client address: the address counts as a player of the stream;
   * bytes are added. True when it is a new player (not seen within PLAYER_IDLE_MS).
   */
  playerRequest(clientIp: string, streamKey: string, protocol: 'hls' | 'dash', bytesIn: number, bytesOut: number): boolean {
    this[protocol].addBytes(bytesIn, bytesOut);
    const key = `${clientIp}|${streamKey}`;
    const known = this.players.get(key);
    if (known?.protocol === protocol) return false;
    this.players.set(key, { streamKey, protocol });
    return true;
  }

  /** HLS/DASH players per stream (sessions seen within PLAYER_IDLE_MS). */
  playersByStream(): Map<string, Partial<Record<ClientProtocol, number>>> {
    this.players.sweep();
    const out = new Map<string, Partial<Record<ClientProtocol, number>>>();
    for (const [, p] of this.entries()) {
      let m = out.get(p.streamKey);
      if (!m) out.set(p.streamKey, (m = {}));
      m[p.protocol] = (m[p.protocol] ?? 0) + 1;
    }
    return out;
  }

  stats(): ServiceStats {
    this.players.sweep();
    const active = { hls: 0, dash: 0 };
    for (const [, p] of this.entries()) active[p.protocol]++;
    return {
      flv: this.flv.snapshot(),
      ts: this.ts.snapshot(),
      hls: this.hls.snapshot({}, { play: active.hls }),
      dash: this.dash.snapshot({}, { play: active.dash }),
    };
  }

  private entries(): Iterable<[string, HttpPlayer]> {
    return this.players.liveEntries();
  }
}
