// What an HLS session record may hold, and how many bytes of them a proxy may keep. The record lives
// for PROXY_SESSION_TTL in memory or Redis, so it keeps only bounded fields: the stream key (bounded by
// the stream-key rules) and the playlist URL, cut to MAX_HLS_URL characters (it is informational;
// nothing routes by it). Their total is bounded too: at the byte budget a new record is refused, and
// no record is evicted for it, because every record still within its TTL may be a player's session.
import { TtlMap } from './ttl-map.js';

export const MAX_HLS_URL = 512;

/** Default byte budget of HLS session records (per proxy; per index in memory). */
export const DEFAULT_HLS_SESSION_BYTES = 32 * 1024 * 1024;

export function boundedHlsUrl(url: string): string {
  return url.length > MAX_HLS_URL ? url.slice(0, MAX_HLS_URL) : url;
}

/** No room for another HLS session record: the caller answers "try later" (HTTP 503). */
export class HlsBudgetError extends Error {
  override readonly name = 'HlsBudgetError';
  constructor(readonly maxBytes: number) {
    super(`HLS session records are at their byte budget (${maxBytes} bytes): no new HLS session until one idles out`);
  }
}

/**
 * The bytes of the HLS records one proxy created or kept alive within the session TTL (for a store it
 * cannot enumerate cheaply, i.e. Redis). An entry expires as its record would, unless used again.
 */
export class HlsRecordLedger {
  private readonly records: TtlMap<string, number>;

  constructor(
    ttlMs: number,
    readonly maxBytes: number,
    now: () => number,
  ) {
    // Bytes are tracked, never used to evict (Infinity): admission refuses instead.
    this.records = new TtlMap(ttlMs, Number.MAX_SAFE_INTEGER, now, { maxBytes: Infinity, sizeOf: (_k, bytes) => bytes });
  }

  get bytes(): number {
    return this.records.bytes;
  }

  /** Throws HlsBudgetError when a new record of `bytes` would pass the budget. */
  admit(bytes: number): void {
    this.records.sweep();
    if (this.records.bytes + bytes > this.maxBytes) throw new HlsBudgetError(this.maxBytes);
  }

  /** A record was created or used: it counts (again) for a full TTL. */
  note(streamKey: string, bytes: number): void {
    if (this.records.get(streamKey) !== bytes) this.records.set(streamKey, bytes);
  }
}
