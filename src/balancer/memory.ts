// In-process balancer: origins, stream pins and sessions for a single proxy.
import { randomBytes } from 'node:crypto';
import { EVERY_ORIGIN_UP } from '../routing/health.js';
import { decidePick, pinStanding, pinStandingOf, type PickContext } from '../routing/policy.js';
import {
  NoOriginError,
  type Balancer,
  type HlsSession,
  type OriginView,
  type PickRequest,
  type PickResult,
  type RecordCounts,
  type RegisterResult,
  type RtcSession,
  type StreamPin,
} from './balancer.js';
import type { Origin } from './origin.js';
import { TtlMap } from './ttl-map.js';
import { boundedHlsUrl, DEFAULT_HLS_SESSION_BYTES, HlsBudgetError } from './hls-record.js';

export interface MemoryBalancerOptions {
  /** An origin whose last heartbeat is older than this is dead (PROXY_ORIGIN_EXPIRE). */
  originExpireMs: number;
  /** Idle lifetime of HLS and WebRTC sessions (PROXY_SESSION_TTL). */
  sessionTtlMs: number;
  /** Cap on stream pins; the least recently used are forgotten first (PROXY_MAX_STREAM_PINS). */
  maxStreamPins: number;
  /** Cap on HLS and on WebRTC sessions each. */
  maxSessions?: number;
  /** Cap on the bytes HLS session records hold (default 32 MiB): past it new records are refused, none evicted. */
  maxHlsSessionBytes?: number;
  now?: () => number;
  /** Uniform random integer in [0, n). */
  randomInt?: (n: number) => number;
  /** A fresh 7-hex session id. */
  newId?: () => string;
  /** Whether a stream has live relays: its pin is never evicted by the cap (default: none live). */
  isLive?: (streamKey: string) => boolean;
}

interface Pin {
  serverId: string;
  originId: string;
  touchedAt: number;
}

/** A pin leased by requests in flight and not committed yet (see PickRequest.tentative). */
interface PendingPin extends Pin {
  holders: number;
}

/** Approximate heap bytes of one HLS record in one index: UTF-16 strings plus object and Map overhead. */
export function hlsRecordBytes(key: string, s: HlsSession): number {
  return 2 * (key.length + s.spbhid.length + s.streamKey.length + s.fullUrl.length) + 200;
}

/** Dead origins are kept this many expiry periods (as the stale-only fallback), then forgotten. */
export const FORGET_AFTER_EXPIRIES = 10;
const NO_REQUEST: PickRequest = {};
const NO_NEEDS: readonly never[] = [];

/** Leased pins older than this are forgotten by the sweep (requests end long before). */
const PENDING_PIN_MAX_AGE_MS = 10 * 60_000;

export class MemoryBalancer implements Balancer {
  readonly kind = 'memory' as const;
  private readonly origins_ = new Map<string, Origin>();
  private readonly pins_ = new Map<string, Pin>();
  private readonly pending = new Map<string, PendingPin>();
  private readonly hlsByKey: TtlMap<string, HlsSession>;
  private readonly hlsById: TtlMap<string, HlsSession>;
  private readonly rtc: TtlMap<string, RtcSession>;
  private readonly now: () => number;
  private readonly randomInt: (n: number) => number;
  private readonly newId: () => string;
  private readonly isLive: (streamKey: string) => boolean;
  private readonly maxHlsBytes: number;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MemoryBalancerOptions) {
    this.now = opts.now ?? Date.now;
    this.randomInt = opts.randomInt ?? ((n) => Math.floor(Math.random() * n));
    this.newId = opts.newId ?? (() => randomBytes(4).toString('hex').slice(0, 7));
    this.isLive = opts.isLive ?? (() => false);
    const maxSessions = opts.maxSessions ?? 1_000_000;
    this.maxHlsBytes = opts.maxHlsSessionBytes ?? DEFAULT_HLS_SESSION_BYTES;
    // Bytes are weighed but never used to evict: a record within its TTL may be a player's session.
    const hlsBytes = { maxBytes: Infinity, sizeOf: hlsRecordBytes };
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
    // A lease is released when its request ends; one this old was lost (a bug), not in flight.
    const leaseBefore = this.now() - PENDING_PIN_MAX_AGE_MS;
    for (const [k, p] of this.pending) if (p.touchedAt < leaseBefore) this.pending.delete(k);
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

  async pick(streamKey: string, request: PickRequest = NO_REQUEST): Promise<Origin> {
    return this.pinnedFast(streamKey, request) ?? this.claimSync(streamKey, { ...request, tentative: false }).origin;
  }

  async claim(streamKey: string, request: PickRequest): Promise<PickResult> {
    // Every segment of a pinned stream claims: a kept pin with no lease in flight needs no context object.
    const kept = this.pinnedFast(streamKey, request);
    if (kept) return { origin: kept, created: false };
    return this.claimSync(streamKey, request);
  }

  /** Synchronous pick, for callers (and benchmarks) that need no Promise. */
  pickSync(streamKey: string): Origin {
    return this.pinnedFast(streamKey, NO_REQUEST) ?? this.claimSync(streamKey, NO_REQUEST).origin;
  }

  /**
   * The hot path: a committed pin on an origin in good standing, no lease in flight. Allocates nothing;
   * anything else (undefined) goes through claimSync.
   */
  private pinnedFast(streamKey: string, request: PickRequest): Origin | undefined {
    if (this.pending.size > 0 && this.pending.has(streamKey)) return undefined;
    const pin = this.pins_.get(streamKey);
    if (pin === undefined) return undefined;
    const origin = this.pinnedOrigin(pin);
    if (origin === undefined) return undefined;
    const now = this.now();
    const standing = pinStandingOf(origin, now, this.opts.originExpireMs, request.needs ?? NO_NEEDS, request.health ?? EVERY_ORIGIN_UP, request.live ?? false);
    if (standing !== 'keep') return undefined;
    // Refresh LRU position at most once a second: a Map delete+set per pick is measurable.
    if (now - pin.touchedAt > 1000) {
      pin.touchedAt = now;
      this.pins_.delete(streamKey);
      this.pins_.set(streamKey, pin);
    }
    return origin;
  }

  private claimSync(streamKey: string, request: PickRequest): PickResult {
    const ctx = this.context(streamKey, request);
    // A lease in flight is the newest intent for the stream: concurrent requests join it.
    const pending = this.pending.get(streamKey);
    const pin = pending ?? this.pins_.get(streamKey);
    const pinned = pin ? this.pinnedOrigin(pin) : undefined;
    // Fast path: a pinned stream on an origin in good standing (no list of origins needed).
    if (pinned && pinStanding(pinned, ctx) === 'keep') return this.kept(streamKey, pin!, pinned, request, ctx.now);
    const decision = decidePick(pinned, [...this.origins_.values()], (o) => o, ctx);
    if (!decision) throw new NoOriginError(streamKey, this.origins_.size === 0 ? 'no origin registered' : 'no origin takes new streams');
    if (decision.keep) return this.kept(streamKey, pin!, decision.item, request, ctx.now);
    const chosen = decision.item;
    if (request.tentative) {
      if (this.pending.size < this.opts.maxStreamPins)
        this.pending.set(streamKey, { serverId: chosen.serverId, originId: chosen.id, touchedAt: ctx.now, holders: 1 });
      else this.pending.delete(streamKey);
    } else {
      this.setPin(streamKey, chosen, ctx.now);
    }
    return { origin: chosen, created: true };
  }

  private kept(streamKey: string, pin: Pin | PendingPin, origin: Origin, request: PickRequest, now: number): PickResult {
    if ('holders' in pin) {
      if (!request.tentative) {
        this.setPin(streamKey, origin, now);
        return { origin, created: false };
      }
      pin.holders++;
      return { origin, created: true };
    }
    // Refresh LRU position at most once a second: a Map delete+set per pick is measurable.
    if (now - pin.touchedAt > 1000) {
      pin.touchedAt = now;
      this.pins_.delete(streamKey);
      this.pins_.set(streamKey, pin);
    }
    return { origin, created: false };
  }

  async commitPin(streamKey: string, origin: Origin): Promise<void> {
    this.dropPending(streamKey, origin);
    const pin = this.pins_.get(streamKey);
    if (pin && pin.originId === origin.id) {
      // Refresh LRU position at most once a second, as a pick does.
      const now = this.now();
      if (now - pin.touchedAt > 1000) {
        pin.touchedAt = now;
        this.pins_.delete(streamKey);
        this.pins_.set(streamKey, pin);
      }
      return;
    }
    this.setPin(streamKey, origin, this.now());
  }

  async releasePin(streamKey: string, origin: Origin): Promise<void> {
    this.dropPending(streamKey, origin);
  }

  private dropPending(streamKey: string, origin: Origin): void {
    const p = this.pending.get(streamKey);
    if (p && p.originId === origin.id && --p.holders <= 0) this.pending.delete(streamKey);
  }

  /**
   * Pins a stream; over the cap, evicts the least recently used pin whose stream has no live relay
   * (live streams' pins are skipped and refreshed, so the scan is amortised; when every pin is live
   * the cap is exceeded: live relays are bounded by the connection limits).
   */
  private setPin(streamKey: string, origin: Origin, now: number): void {
    this.pins_.delete(streamKey);
    this.pins_.set(streamKey, { serverId: origin.serverId, originId: origin.id, touchedAt: now });
    let scan = this.pins_.size;
    while (this.pins_.size > this.opts.maxStreamPins && scan-- > 0) {
      const [oldest, pin] = this.pins_.entries().next().value as [string, Pin];
      this.pins_.delete(oldest);
      if (oldest !== streamKey && this.isLive(oldest)) this.pins_.set(oldest, pin);
    }
  }

  async lookup(streamKey: string, request: PickRequest = {}): Promise<Origin | undefined> {
    const pin = this.pins_.get(streamKey);
    const pinned = pin ? this.pinnedOrigin(pin) : undefined;
    if (!pinned) return undefined;
    const ctx = this.context(streamKey, request);
    if (pinStanding(pinned, ctx) === 'keep') return pinned;
    const decision = decidePick(pinned, [...this.origins_.values()], (o) => o, ctx);
    return decision?.keep ? pinned : undefined;
  }

  /** The very record a pin was made to: a restarted origin (new id) has lost its streams. */
  private pinnedOrigin(pin: Pin): Origin | undefined {
    const o = this.origins_.get(pin.serverId);
    return o && o.id === pin.originId ? o : undefined;
  }

  private context(streamKey: string, request: PickRequest): PickContext {
    return {
      streamKey,
      now: this.now(),
      originExpireMs: this.opts.originExpireMs,
      needs: request.needs ?? [],
      health: request.health ?? EVERY_ORIGIN_UP,
      live: request.live ?? false,
      randomInt: this.randomInt,
    };
  }

  recordCounts(): RecordCounts {
    return { pins: this.pins_.size, hlsSessions: this.hlsByKey.size, rtcSessions: this.rtc.size };
  }

  async pins(limit: number): Promise<StreamPin[]> {
    const out: StreamPin[] = [];
    for (const [streamKey, pin] of this.pins_) {
      if (out.length >= limit) break;
      const current = this.origins_.get(pin.serverId);
      if (current && current.id !== pin.originId) out.push({ streamKey, originId: current.id, serverId: pin.serverId, replacedId: pin.originId });
      else out.push({ streamKey, originId: pin.originId, serverId: pin.serverId });
    }
    return out;
  }

  async hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession> {
    const existing = this.hlsByKey.get(streamKey);
    if (existing && this.hlsById.get(existing.spbhid)) return existing;
    let spbhid = this.newId();
    while (this.hlsById.get(spbhid)) spbhid = this.newId();
    const session: HlsSession = { spbhid, streamKey, fullUrl: boundedHlsUrl(fullUrl) };
    this.hlsByKey.sweep();
    this.hlsById.sweep();
    const bytes = hlsRecordBytes(streamKey, session);
    if (this.hlsByKey.bytes + bytes > this.maxHlsBytes || this.hlsById.bytes + hlsRecordBytes(spbhid, session) > this.maxHlsBytes) {
      throw new HlsBudgetError(this.maxHlsBytes);
    }
    this.hlsByKey.set(streamKey, session);
    this.hlsById.set(spbhid, session);
    return session;
  }

  async hlsSessionById(spbhid: string): Promise<HlsSession | undefined> {
    const s = this.hlsById.get(spbhid);
    if (s) this.hlsByKey.get(s.streamKey); // a segment request keeps the playlist's record alive too
    return s;
  }

  async hlsSessionOf(streamKey: string): Promise<HlsSession | undefined> {
    const s = this.hlsByKey.peek(streamKey);
    return s && this.hlsById.peek(s.spbhid) ? s : undefined;
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
}
