// PROXY_REDIS_FALLBACK=cache: the last pins, origins and sessions this proxy learned from Redis, kept
// for a short while so that, while Redis is unreachable, requests for streams it already knows still
// find their origin. Entries are only as fresh as their last confirmation by Redis: using one does
// not extend it, so an outage longer than the TTL ends in clear failures rather than stale guesses.
import type { HlsSession, OriginView, RtcSession } from './balancer.js';
import { decidePick, NoServiceError, pinStanding, type PickContext } from '../routing/policy.js';
import type { Origin } from './origin.js';

/** A server record known by its Redis key. */
export interface KnownServer {
  key: string;
  origin: Origin;
}

export interface FallbackCacheOptions {
  ttlMs: number;
  maxEntries: number;
  originExpireMs: number;
  now: () => number;
}

interface Entry<V> {
  value: V;
  confirmedAt: number;
}

/** A Map with a size cap (oldest confirmation evicted first) whose entries go stale after ttlMs. */
class ConfirmedMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSize: number,
  ) {}

  confirm(key: K, value: V, now: number): void {
    const e = this.entries.get(key);
    // Re-inserting moves the key to the end (eviction order); do it at most once a second per key.
    if (e && e.value === value && now - e.confirmedAt < 1000) return;
    this.entries.delete(key);
    this.entries.set(key, { value, confirmedAt: now });
    if (this.entries.size > this.maxSize) this.entries.delete(this.entries.keys().next().value as K);
  }

  get(key: K, now: number): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (now - e.confirmedAt > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

export class FallbackCache {
  private servers: Entry<KnownServer[]> | undefined;
  private readonly pins: ConfirmedMap<string, KnownServer>;
  private readonly hlsByKey: ConfirmedMap<string, HlsSession>;
  private readonly hlsById: ConfirmedMap<string, HlsSession>;
  private readonly rtc: ConfirmedMap<string, RtcSession>;

  constructor(private readonly opts: FallbackCacheOptions) {
    this.pins = new ConfirmedMap(opts.ttlMs, opts.maxEntries);
    this.hlsByKey = new ConfirmedMap(opts.ttlMs, opts.maxEntries);
    this.hlsById = new ConfirmedMap(opts.ttlMs, opts.maxEntries);
    this.rtc = new ConfirmedMap(opts.ttlMs, opts.maxEntries);
  }

  confirmServers(list: KnownServer[]): void {
    this.servers = { value: list, confirmedAt: this.opts.now() };
  }

  confirmPin(streamKey: string, server: KnownServer): void {
    this.pins.confirm(streamKey, server, this.opts.now());
  }

  confirmHls(s: HlsSession): void {
    const now = this.opts.now();
    this.hlsByKey.confirm(s.streamKey, s, now);
    this.hlsById.confirm(s.spbhid, s, now);
  }

  confirmRtc(s: RtcSession): void {
    this.rtc.confirm(s.ufrag, s, this.opts.now());
  }

  forgetRtc(ufrag: string): void {
    this.rtc.delete(ufrag);
  }

  forgetPin(streamKey: string): void {
    this.pins.delete(streamKey);
  }

  /** The stream's origin by the shared pick policy over the cached view (a local pin when new). */
  pick(streamKey: string, ctx: PickContext): Origin | undefined {
    const now = this.opts.now();
    const servers = this.knownServers(now);
    const pinned = this.pins.get(streamKey, now);
    let decision;
    try {
      decision = decidePick(pinned, servers, (s) => s.origin, ctx);
    } catch (err) {
      if (err instanceof NoServiceError) return undefined; // Redis's own error is the clearer answer
      throw err;
    }
    if (!decision) return pinned?.origin;
    // A local pin (Redis cannot take it now): later requests through this proxy agree with this one.
    if (!decision.keep) this.pins.confirm(streamKey, decision.item, now);
    return decision.item.origin;
  }

  lookup(streamKey: string, ctx: PickContext): Origin | undefined {
    const now = this.opts.now();
    const pinned = this.pins.get(streamKey, now);
    if (!pinned) return undefined;
    if (pinStanding(pinned.origin, ctx) === 'keep') return pinned.origin;
    try {
      return decidePick(pinned, this.knownServers(now), (s) => s.origin, ctx)?.keep ? pinned.origin : undefined;
    } catch (err) {
      if (err instanceof NoServiceError) return undefined;
      throw err;
    }
  }

  origins(): OriginView[] | undefined {
    const now = this.opts.now();
    if (!this.servers || now - this.servers.confirmedAt > this.opts.ttlMs) return undefined;
    return this.servers.value.map((s) => ({ origin: s.origin, alive: this.isAlive(s.origin, now), ageMs: now - s.origin.updatedAt }));
  }

  hlsSession(streamKey: string): HlsSession | undefined {
    return this.hlsByKey.get(streamKey, this.opts.now());
  }

  hlsSessionById(spbhid: string): HlsSession | undefined {
    return this.hlsById.get(spbhid, this.opts.now());
  }

  rtcSession(ufrag: string): RtcSession | undefined {
    return this.rtc.get(ufrag, this.opts.now());
  }

  private knownServers(now: number): KnownServer[] {
    if (!this.servers || now - this.servers.confirmedAt > this.opts.ttlMs) return [];
    return this.servers.value;
  }

  private isAlive(o: Origin, now: number): boolean {
    return now - o.updatedAt < this.opts.originExpireMs;
  }
}
