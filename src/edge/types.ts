// Shapes shared by the edge's hub, upstream and players.
import type { RouteRefusal } from '../routing/refusal.js';
import type { OriginError } from '../rtmp/origin-leg.js';

/** Why a stream's upstream could not start: routing refused it, or the origin leg failed. */
export type EdgeFailure = { kind: 'refused'; refusal: RouteRefusal } | { kind: 'origin'; error: OriginError; originNames: readonly string[] };

/** Why a started stream ended for its players. */
export type StreamEnd = 'unpublished' | 'origin closed' | 'origin down' | 'shutdown';

/** Counts of one proxy's edge (stats API). */
export interface EdgeStats {
  /** Streams with an upstream (connecting, live or lingering). */
  hubs: number;
  /** Upstream play sessions to origins that are live. */
  upstreams: number;
  /** Players attached, per protocol. */
  players: { rtmp: number; flv: number };
  /** Bytes of media read from origins so far. */
  upstreamBytes: number;
  /** Bytes held by the GOP caches. */
  cacheBytes: number;
  /** Bytes held by the largest stream's GOP cache (each stays within PROXY_GOP_CACHE_MAX; `largest…`: workers' largest, not summed). */
  largestCacheBytes: number;
  /** The most bytes any live stream's cache held at once (the bound's proof: never above PROXY_GOP_CACHE_MAX). */
  largestCachePeak: number;
  /** GOPs the live streams' caches dropped for outgrowing PROXY_GOP_CACHE_MAX. */
  cacheOverflows: number;
  /** Player skips to a keyframe (lag) so far. */
  skips: number;
  /** The streams whose players skipped most (at most 100): stream key → skips of its live hub. */
  skipsByStream: Record<string, number>;
}
