// In-process balancer: origins, stream pins and sessions for a single proxy.
import { randomBytes } from 'node:crypto';
import { NoOriginError, type Balancer, type HlsSession, type OriginView, type RegisterResult, type RtcSession, type StreamPin } from './balancer.js';
import type { Origin } from './origin.js';
import { TtlMap } from './ttl-map.js';
import { boundedHlsUrl } from './hls-record.js';

export interface MemoryBalancerOptions {
  /** An origin whose last heartbeat is older than this is dead (PROXY_ORIGIN_EXPIRE). */
  originExpireMs: number;
  /** Idle lifetime of HLS and WebRTC sessions (PROXY_SESSION_TTL). */
  sessionTtlMs: number;
  /** Cap on stream pins; the least recently used are forgotten first (PROXY_MAX_STREAM_PINS). */
  maxStreamPins: number;
  /** Cap on HLS and on WebRTC sessions each. */
  maxSessions?: number;
  /** Cap on the bytes HLS session records hold (default 32 MiB). */
  maxHlsSessionBytes?: number;
  now?: () => number;
  /** Uniform random integer in [0, n). */
  randomInt?: (n: number) => number;
  /** A fresh 7-hex session id. */
  newId?: () => string;
}

interface Pin {
  serverId: string;
  originId: string;
  touchedAt: number;
}

/** Default byte budget of HLS session records (each index). */
export const DEFAULT_HLS_SESSION_BYTES = 32 * 1024 * 1024;

/** Approximate heap bytes of one HLS record in one index: UTF-16 strings plus object and Map overhead. */
export function hlsRecordBytes(key: string, s: HlsSession): number {
  return 2 * (key.length + s.spbhid.length + s.streamKey.length + s.fullUrl.length) + 200;
}

/** Dead origins are kept this many expiry periods (as the stale-only fallback), then forgotten. */
export const FORGET_AFTER_EXPIRIES = 10;

export class MemoryBalancer implements Balancer {
  readonly kind = 'memory' as const;
  private readonly origins_ = new Map<string, Origin>();
  private readonly pins_ = new Map<string, Pin>();
  private readonly hlsByKey: TtlMap<string, HlsSession>;
  private readonly hlsById: TtlMap<string, HlsSession>;
  private readonly rtc: TtlMap<string, RtcSession>;
  private readonly now: () => number;
  private readonly randomInt: (n: number) => number;
  private readonly newId: () => string;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MemoryBalancerOptions) {
    this.now = opts.now ?? Date.now;
    this.randomInt = opts.randomInt ?? ((n) => Math.floor(Math.random() * n));
    this.newId = opts.newId ?? (() => randomBytes(4).toString('hex').slice(0, 7));
    const maxSessions = opts.maxSessions ?? 1_000_000;
    const hlsBytes = { maxBytes: opts.maxHlsSessionBytes ?? DEFAULT_HLS_SESSION_BYTES, sizeOf: hlsRecordBytes };
    this.hlsByKey = new TtlMap(opts.sessionTtlMs, maxSessions, this.now, hlsBytes);
    this.hlsById = new TtlMap(opts.sessionTtlMs, maxSessions, this.now, hlsBytes);
    this.rtc = new TtlMap(opts.sessionTtlMs, maxSessions, this.now);
  }

  async start(): Promise<void> {
    const every = Math.max(250, Math.min(5000, this.opts.sessionTtlMs / 4, this.opts.originExpireMs));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Expires sessions and forgets long-dead origins. Runs on a timer; public for tests. */
  sweep(): void {
    this.hlsByKey.sweep();
    this.hlsById.sweep();
    this.rtc.sweep();
    const forgetBefore = this.now() - this.opts.originExpireMs * FORGET_AFTER_EXPIRIES;
    for (const [id, o] of this.origins_) if (o.updatedAt < forgetBefore) this.origins_.delete(id);
  }

  async register(origin: Origin): Promise<RegisterResult> {
    const previous = this.origins_.get(origin.serverId);
    this.origins_.set(origin.serverId, origin);
    return { replaced: previous && previous.id !== origin.id ? previous : undefined };
  }

  async deregister(serverId: string): Promise<boolean> {
    return this.origins_.delete(serverId);
  }

  async origins(): Promise<OriginView[]> {
    const now = this.now();
    return [...this.origins_.values()].map((origin) => ({
      origin,
      alive: this.isAlive(origin, now),
      ageMs: now - origin.updatedAt,
    }));
  }

  async pick(streamKey: string): Promise<Origin> {
    return this.pickSync(streamKey);
  }

  /** Synchronous pick, for callers (and benchmarks) that need no Promise. */
  pickSync(streamKey: string): Origin {
    const now = this.now();
    const pinned = this.validPin(streamKey, now);
    if (pinned) return pinned;
    const chosen = this.choose(streamKey, now);
    this.pins_.delete(streamKey);
    this.pins_.set(streamKey, { serverId: chosen.serverId, originId: chosen.id, touchedAt: now });
    if (this.pins_.size > this.opts.maxStreamPins) {
      this.pins_.delete(this.pins_.keys().next().value as string);
    }
    return chosen;
  }

  async lookup(streamKey: string): Promise<Origin | undefined> {
    return this.validPin(streamKey, this.now());
  }

  /** The pinned origin while it is the very record picked and alive (or nothing better is alive). */
  private validPin(streamKey: string, now: number): Origin | undefined {
    const pin = this.pins_.get(streamKey);
    if (!pin) return undefined;
    const pinned = this.origins_.get(pin.serverId);
    // Only the very record that was picked counts: a restarted origin (new id) has lost its streams.
    if (!pinned || pinned.id !== pin.originId) return undefined;
    if (!this.isAlive(pinned, now) && this.anyAlive(now)) return undefined;
    // Refresh LRU position at most once a second: a Map delete+set per pick is measurable.
    if (now - pin.touchedAt > 1000) {
      pin.touchedAt = now;
      this.pins_.delete(streamKey);
      this.pins_.set(streamKey, pin);
    }
    return pinned;
  }

  async pins(limit: number): Promise<StreamPin[]> {
    const out: StreamPin[] = [];
    for (const [streamKey, pin] of this.pins_) {
      if (out.length >= limit) break;
      out.push({ streamKey, originId: pin.originId, serverId: pin.serverId });
    }
    return out;
  }

  async hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession> {
    const existing = this.hlsByKey.get(streamKey);
    if (existing && this.hlsById.get(existing.spbhid)) return existing;
    let spbhid = this.newId();
    while (this.hlsById.get(spbhid)) spbhid = this.newId();
    const session: HlsSession = { spbhid, streamKey, fullUrl: boundedHlsUrl(fullUrl) };
    this.hlsByKey.set(streamKey, session);
    this.hlsById.set(spbhid, session);
    return session;
  }

  async hlsSessionById(spbhid: string): Promise<HlsSession | undefined> {
    const s = this.hlsById.get(spbhid);
    if (s) this.hlsByKey.get(s.streamKey); // a segment request keeps the playlist's record alive too
    return s;
  }

  async putRtcSession(session: RtcSession): Promise<void> {
    this.rtc.set(session.ufrag, session);
  }

  async rtcSession(ufrag: string): Promise<RtcSession | undefined> {
    return this.rtc.get(ufrag);
  }

  async deleteRtcSession(ufrag: string): Promise<void> {
    this.rtc.delete(ufrag);
  }

  private isAlive(o: Origin, now: number): boolean {
    return now - o.updatedAt < this.opts.originExpireMs;
  }

  private anyAlive(now: number): boolean {
    for (const o of this.origins_.values()) if (this.isAlive(o, now)) return true;
    return false;
  }

  private choose(streamKey: string, now: number): Origin {
    let candidates: Origin[] = [];
    for (const o of this.origins_.values()) if (this.isAlive(o, now)) candidates.push(o);
    // Stale-only fallback (spec 3.4): a possibly-dead origin beats certain failure.
    if (candidates.length === 0) candidates = [...this.origins_.values()];
    if (candidates.length === 0) throw new NoOriginError(streamKey);
    return candidates[this.randomInt(candidates.length)]!;
  }
}
