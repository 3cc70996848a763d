// A Map whose entries expire after `ttlMs` without use. Reading refreshes an entry by moving it to
// the end, so the Map stays ordered by last use and a sweep stops at the first live entry (O(expired)).
// A size cap evicts the least recently used entry, so memory stays bounded under any flood.

export class TtlMap<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSize: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value, refreshing its TTL; undefined when absent or expired. */
  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    this.entries.delete(key);
    if (e.expiresAt <= now) return undefined;
    e.expiresAt = now + this.ttlMs;
    this.entries.set(key, e);
    return e.value;
  }

  /** The value without refreshing it; undefined when absent or expired. */
  peek(key: K): V | undefined {
    const e = this.entries.get(key);
    return e && e.expiresAt > this.now() ? e.value : undefined;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next().value as K;
      this.entries.delete(oldest);
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Drops expired entries; returns how many. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt > now) break;
      this.entries.delete(k);
      n++;
    }
    return n;
  }
}
