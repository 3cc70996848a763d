// The edge cache of HLS/DASH answers: playlists, manifests and segments fetched through the proxy are
// kept in memory, and concurrent requests for the same answer share one origin fetch. N players asking
// for the segment that just appeared cost the origin one request, not N.
//
// Bounded twice: answers stored (LRU by bytes, PROXY_HLS_CACHE_MAX, and by count), and bodies being read
// from origins to fill it (reservations, the same byte budget); an answer that does not fit is served to
// the requests waiting for it and not kept. Only complete 200 answers are kept, so requests for streams
// or files that do not exist leave nothing behind.

/** One complete origin answer as the cache keeps it. */
export interface CachedAnswer {
  status: number;
  /** The origin's response headers as the client gets them, a flat `[name, value, …]` list with lower-case names (no Content-Length: it is set per answer sent). */
  headers: readonly string[];
  body: Buffer;
  /** When it was fetched (ms, the cache's clock). */
  storedAt: number;
  /** How long it may be served from the cache; 0 = only to the requests that waited for this fetch. */
  ttlMs: number;
}

/** Where an answer came from, for logs, metrics and the client's Age header. */
export type CacheSource = 'hit' | 'coalesced' | 'miss';

export interface CacheAnswer {
  answer: CachedAnswer;
  source: CacheSource;
}

/**
 * What filling the cache runs: it fetches from the origin, and either returns a complete answer (for the
 * requester and the requests waiting on it; kept when its ttl allows), or serves its own client itself
 * (an answer the cache must not hold: not 200, too large, no reservation) and returns undefined.
 */
export type Fill = () => Promise<CachedAnswer | undefined>;

export interface HlsCacheOptions {
  /** Bytes of answers kept (PROXY_HLS_CACHE_MAX); also the budget of bodies being read to fill it. */
  maxBytes: number;
  /** Answers kept at most (small playlists must not make the map itself the cost). */
  maxEntries?: number;
  /** Distinct answers being fetched to share at most; further requests fetch on their own, unshared. */
  maxFilling?: number;
  now?: () => number;
}

export interface HlsCacheStats {
  entries: number;
  bytes: number;
  /** Bytes reserved by fetches reading a body to fill the cache. */
  filling: number;
  /** Shared origin fetches under way (distinct answers others may wait for). */
  fetches: number;
  /** Requests now waiting for an origin fetch another request started. */
  waiting: number;
  hits: number;
  coalesced: number;
  misses: number;
  evictions: number;
}

export const DEFAULT_MAX_ENTRIES = 50_000;
/** Each shared fetch is a client request in flight, so connection caps bound them too; this keeps the map small whatever those caps are. */
export const DEFAULT_MAX_FILLING = 10_000;
/** Bytes counted per entry besides its body (key, headers, bookkeeping), so empty answers still cost. */
export const ENTRY_OVERHEAD_BYTES = 512;

export class HlsCache {
  private readonly entries = new Map<string, CachedAnswer & { size: number }>();
  private readonly filling = new Map<string, Promise<CachedAnswer | undefined>>();
  private bytes = 0;
  private reserved = 0;
  private waiting = 0;
  private readonly maxEntries: number;
  private readonly maxFilling: number;
  private readonly now: () => number;
  private readonly counts = { hits: 0, coalesced: 0, misses: 0, evictions: 0 };

  constructor(private readonly options: HlsCacheOptions) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxFilling = options.maxFilling ?? DEFAULT_MAX_FILLING;
    this.now = options.now ?? Date.now;
  }

  /** The largest body one answer may have to be kept (a quarter of the budget). */
  get maxAnswerBytes(): number {
    return Math.floor(this.options.maxBytes / 4);
  }

  /**
   * The answer for `key`: a fresh stored one, else the one the fetch already under way for it brings,
   * else `fill`'s. undefined when `fill` served its own client (nothing to share).
   */
  async get(key: string, fill: Fill): Promise<CacheAnswer | undefined> {
    const stored = this.fresh(key);
    if (stored) {
      this.counts.hits++;
      return { answer: stored, source: 'hit' };
    }
    const pending = this.filling.get(key);
    if (pending) {
      this.waiting++;
      const shared = await pending.catch(() => undefined).finally(() => this.waiting--);
      if (shared) {
        this.counts.coalesced++;
        return { answer: shared, source: 'coalesced' };
      }
      // The fetch we waited for could not be shared (it failed, or was not cacheable): fetch our own,
      // without making others wait on it (a failing origin must not chain every waiter behind it).
      this.counts.misses++;
      const own = await fill();
      return own && { answer: own, source: 'miss' };
    }
    this.counts.misses++;
    const fetching = fill();
    if (this.filling.size >= this.maxFilling) {
      // A flood of distinct URLs: fetch for this request alone (still kept when complete: the store is bounded).
      const answer = await fetching;
      if (answer) this.store(key, answer);
      return answer && { answer, source: 'miss' };
    }
    this.filling.set(key, fetching);
    try {
      const answer = await fetching;
      if (answer) this.store(key, answer);
      return answer && { answer, source: 'miss' };
    } finally {
      this.filling.delete(key);
    }
  }

  /**
   * Reserves `bytes` of the budget for a body about to be read to fill the cache; false when the bodies
   * already being read hold the whole budget (the caller then streams instead of buffering).
   */
  reserve(bytes: number): boolean {
    if (bytes > this.maxAnswerBytes || this.reserved + bytes > this.options.maxBytes) return false;
    this.reserved += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  /** Seconds since the answer was fetched, for the Age header. */
  ageSeconds(answer: CachedAnswer): number {
    return Math.max(0, Math.floor((this.now() - answer.storedAt) / 1000));
  }

  /** Seconds the answer stays fresh, for Cache-Control max-age. */
  remainingSeconds(answer: CachedAnswer): number {
    return Math.max(0, Math.floor((answer.storedAt + answer.ttlMs - this.now()) / 1000));
  }

  stats(): HlsCacheStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      filling: this.reserved,
      fetches: this.filling.size,
      waiting: this.waiting,
      ...this.counts,
    };
  }

  private fresh(key: string): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.storedAt >= entry.ttlMs) {
      this.drop(key, entry);
      return undefined;
    }
    // Most recently used last: the Map's order is the LRU order.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  private store(key: string, answer: CachedAnswer): void {
    if (answer.status !== 200 || answer.ttlMs <= 0) return;
    const size = answer.body.length + key.length + ENTRY_OVERHEAD_BYTES + answer.headers.reduce((n, h) => n + h.length, 0);
    if (answer.body.length > this.maxAnswerBytes) return;
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    this.entries.set(key, { ...answer, size });
    this.bytes += size;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.options.maxBytes && this.entries.size <= this.maxEntries) break;
      this.drop(oldest, entry);
      this.counts.evictions++;
    }
  }

  private drop(key: string, entry: { size: number }): void {
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}

/** Fresh life of a segment in the cache: live segments are named once, and players fetch one within a few target durations of its appearing; a short life keeps a name reused by a restarted publish from being served stale for long. */
export const SEGMENT_TTL_MS = 30_000;

/**
 * How long a playlist may be served from the cache: half its target duration (a player reloads about
 * once per target duration, so it sees each new segment at most half a duration late). A master
 * playlist (no target duration) is only shared between concurrent requests.
 */
export function playlistTtlMs(text: string): number {
  const match = /^#EXT-X-TARGETDURATION:\s*(\d{1,6})\s*$/m.exec(text);
  if (!match) return 0;
  return (Number(match[1]) * 1000) / 2;
}

/**
 * How long a DASH manifest may be served from the cache: half its minimumUpdatePeriod (the interval at
 * which players refetch it); a manifest without one is only shared between concurrent requests.
 */
export function manifestTtlMs(xml: string): number {
  const match = /minimumUpdatePeriod\s*=\s*"PT(?:(\d{1,6})M)?(?:(\d{1,6}(?:\.\d{1,6})?)S)?"/.exec(xml);
  if (!match || (match[1] === undefined && match[2] === undefined)) return 0;
  const seconds = Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
  return (seconds * 1000) / 2;
}

/**
 * The cache key of a request: the stream it routes to and its path and query without the session
 * parameter (every player's `spbhid` differs; the answer does not). Everything else in the query stays:
 * tokens keep answers apart, and LL-HLS blocking reloads with the same `_HLS_msn`/`_HLS_part` share one.
 */
export function cacheKey(streamKey: string, pathname: string, search: URLSearchParams, sessionParam: string): string {
  let query = '';
  for (const [name, value] of search) {
    if (name === sessionParam) continue;
    query += `${query ? '&' : '?'}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  }
  return `${streamKey} ${pathname}${query}`;
}
