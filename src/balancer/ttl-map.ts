// A Map whose entries expire after `ttlMs` without use. Reading refreshes an entry by moving it to
// the end, so the Map stays ordered by last use and a sweep stops at the first live entry (O(expired)).
// A size cap evicts the least recently used entry, so memory stays bounded under any flood; an
// optional byte budget (entries weighed by `sizeOf`) bounds it in bytes too.

export interface TtlMapBytes<K, V> {
  maxBytes: number;
  /** Approximate bytes an entry holds. */
  sizeOf: (key: K, value: V) => number;
}

export class TtlMap<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number; bytes: number }>();
  private bytes_ = 0;
  /**
   * The key known to be last in `entries` (undefined: not known). Refreshing it needs no move: it already
   * expires last. A stream's players ask for the same records over and over, and a Map delete+set per
   * request was the largest single cost of a playlist request in the proxy's own code.
   */
  private lastKey: K | undefined;

  constructor(
    private readonly ttlMs: number,
    private readonly maxSize: number,
    private readonly now: () => number,
    private readonly budget?: TtlMapBytes<K, V>,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held, as weighed by the budget's sizeOf (0 without a budget). */
  get bytes(): number {
    return this.bytes_;
  }

  /** The value, refreshing its TTL; undefined when absent or expired. */
  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (e.expiresAt <= now) {
      this.delete(key);
      return undefined;
    }
    e.expiresAt = now + this.ttlMs;
    if (key !== this.lastKey) {
      this.entries.delete(key);
      this.entries.set(key, e);
      this.lastKey = key;
    }
    return e.value;
  }

  /** The value without refreshing it; undefined when absent or expired. */
  peek(key: K): V | undefined {
    const e = this.entries.get(key);
    return e && e.expiresAt > this.now() ? e.value : undefined;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const bytes = this.budget ? this.budget.sizeOf(key, value) : 0;
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs, bytes });
    this.lastKey = key;
    this.bytes_ += bytes;
    while (this.entries.size > this.maxSize || (this.budget && this.bytes_ > this.budget.maxBytes && this.entries.size > 1)) {
      this.delete(this.entries.keys().next().value as K);
    }
  }

  delete(key: K): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.bytes_ -= e.bytes;
    if (key === this.lastKey) this.lastKey = undefined;
    return this.entries.delete(key);
  }

  /** Unexpired entries, least recently used first (nothing refreshed). */
  *liveEntries(): IterableIterator<[K, V]> {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt > now) yield [k, e.value];
  }

  /** Drops expired entries; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.delete(k);
      n++;
    }
    return n;
  }
}
