// Shared balancer: origins, stream pins and HLS/WebRTC sessions in Redis, so many proxies act as one
// cluster. Keys and values are the SRS Go proxy's (BEHAVIOUR.md §3.7; redis-records.ts), so a fleet may mix
// both proxies. Unlike the Go proxy: the server list is edited atomically, new pins are SET NX (racing
// proxies agree), a pin whose origin expired or restarted is moved atomically (compare-and-set),
// sessions are read back on any proxy, and liveness is judged by `update_at` against
// PROXY_ORIGIN_EXPIRE (the 300 s key TTL is kept for the Go proxy's sake).
//
// Redis trouble: every call has a deadline and fails at once while disconnected (BalancerUnavailableError);
// relays already running never touch Redis; ioredis reconnects on its own. With
// PROXY_REDIS_FALLBACK=cache, reads fall back to the last pins, origins and sessions Redis confirmed.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConfigError, type RedisConfig } from '../config.js';
import type { Logger } from '../log.js';
import {
  BalancerUnavailableError,
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
import { EVERY_ORIGIN_UP } from '../routing/health.js';
import { decidePick, pinStanding, type PickContext } from '../routing/policy.js';
import type { Origin } from './origin.js';
import { boundedHlsUrl, DEFAULT_HLS_SESSION_BYTES, HlsRecordLedger } from './hls-record.js';
import { FallbackCache, type KnownServer } from './redis-cache.js';
import { createRedisClient, redisTarget, type RedisClient } from './redis-connection.js';
import {
  SERVER_KEY_TTL_S,
  decodeHlsRecord,
  decodeRtcRecord,
  decodeServerRecord,
  encodeHlsRecord,
  encodeRtcRecord,
  encodeServerRecord,
  hlsKey,
  originIdOfKey,
  rtcKey,
  serverKey,
  spbhidKey,
  ufragKey,
  urlKey,
} from './redis-records.js';
import { RedisStore } from './redis-store.js';

export interface RedisBalancerOptions {
  redis: RedisConfig;
  /** An origin whose `update_at` is older than this is dead (PROXY_ORIGIN_EXPIRE). */
  originExpireMs: number;
  /** Idle lifetime of HLS and WebRTC session records (PROXY_SESSION_TTL; Go: 120 s). */
  sessionTtlMs: number;
  /** Cap on the fallback cache's pins and sessions (PROXY_MAX_STREAM_PINS). */
  maxStreamPins: number;
  log: Logger;
  now?: () => number;
  /** Uniform random integer in [0, n). */
  randomInt?: (n: number) => number;
  /** A fresh 7-hex session id. */
  newId?: () => string;
  /** Builds the client (tests); defaults to createRedisClient(redis). */
  client?: RedisClient;
  /**
   * Cap on the bytes of HLS records this proxy created or kept alive within the session TTL (default
   * 32 MiB): past it, this proxy creates no new record (nothing is evicted).
   */
  maxHlsSessionBytes?: number;
}

/** Redis' own cost of one key beside its name and value (dict entry, object headers, expiry), roughly. */
const REDIS_KEY_OVERHEAD = 80;

/** Bytes one HLS session (its two keys, each holding the raw record) takes in Redis, roughly. */
function redisHlsBytes(streamKey: string, spbhid: string, raw: string): number {
  return Buffer.byteLength(hlsKey(streamKey)) + Buffer.byteLength(spbhidKey(spbhid)) + 2 * Buffer.byteLength(raw) + 2 * REDIS_KEY_OVERHEAD;
}

/** Startup could not reach Redis (spec scenario 6): a ConfigError, so main exits 255 naming the variable. */
export class RedisStartupError extends ConfigError {
  override readonly name = 'RedisStartupError';
}

/** Calls, failures and latency of one kind of Redis call (for metrics; logged per call at debug). */
export interface RedisCallStats {
  calls: number;
  errors: number;
  totalMs: number;
  maxMs: number;
}

/** Record counts (metrics) are refreshed at most this often: a SCAN over the proxy's keys. */
const RECORD_COUNT_MS = 5000;

/** Pins that keep changing under us this many times in a row are reported as a Redis failure. */
const MAX_PIN_ROUNDS = 4;
/** Parsed server records kept by raw JSON, so a pick parses a record only when it changed. */
const MAX_PARSED_RECORDS = 10_000;

export class RedisBalancer implements Balancer {
  readonly kind = 'redis' as const;
  readonly client: RedisClient;
  private readonly store: RedisStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly randomInt: (n: number) => number;
  private readonly newId: () => string;
  private readonly parsed = new Map<string, { raw: string; known: KnownServer | undefined }>();
  private readonly cache: FallbackCache | undefined;
  private readonly hlsLedger: HlsRecordLedger;
  private readonly stats = new Map<string, RedisCallStats>();
  private refresher: NodeJS.Timeout | undefined;
  /** The last record count (metrics), when it was started, and the one running. */
  private counted: { counts: RecordCounts | undefined; at: number; running: boolean } = { counts: undefined, at: -Infinity, running: false };
  private lastError = '';
  private connected = false;
  private closed = false;

  constructor(private readonly opts: RedisBalancerOptions) {
    this.log = opts.log.child({ balancer: 'redis' });
    this.now = opts.now ?? Date.now;
    this.randomInt = opts.randomInt ?? ((n) => Math.floor(Math.random() * n));
    this.newId = opts.newId ?? (() => randomBytes(4).toString('hex').slice(0, 7));
    this.client = opts.client ?? createRedisClient(opts.redis);
    this.store = new RedisStore(this.client);
    this.hlsLedger = new HlsRecordLedger(opts.sessionTtlMs, opts.maxHlsSessionBytes ?? DEFAULT_HLS_SESSION_BYTES, this.now);
    if (opts.redis.fallback === 'cache') {
      this.cache = new FallbackCache({
        ttlMs: opts.redis.fallbackTtlMs,
        maxEntries: opts.maxStreamPins,
        originExpireMs: opts.originExpireMs,
        now: this.now,
      });
    }
  }

  /** Connects and PINGs; failure is a RedisStartupError naming the variable (exit 255). */
  async start(): Promise<void> {
    const target = redisTarget(this.opts.redis);
    this.client.on('error', (err: Error) => {
      // ioredis reports every failed reconnect; log the first of a run at warn, the rest at debug.
      if (err.message !== this.lastError) this.log.warn({ err: err.message }, 'Redis error');
      else this.log.debug({ err: err.message }, 'Redis error');
      this.lastError = err.message;
    });
    this.client.on('ready', () => {
      if (this.connected) return;
      this.connected = true;
      this.lastError = '';
      this.log.info({ redis: target.value }, 'Redis connected');
    });
    this.client.on('close', () => {
      if (!this.connected || this.closed) return;
      this.connected = false;
      this.log.warn({ redis: target.value }, 'Redis connection lost; reconnecting (new routing fails until it is back)');
    });
    try {
      await withDeadline(this.client.connect(), Math.max(this.opts.redis.timeoutMs, 1000) * 3, 'connect timed out');
      await this.client.ping();
    } catch (err) {
      const reason = this.lastError || (err as Error).message;
      this.closed = true;
      this.client.disconnect();
      throw new RedisStartupError(target.variable, target.value, `cannot use Redis: ${reason}${startupHint(reason)}`, { cause: err });
    }
    this.connected = true;
    if (this.cache) {
      // Keeps the cached origin list fresh even when only existing pins are used.
      const every = Math.max(250, Math.min(5000, this.opts.redis.fallbackTtlMs / 3));
      this.refresher = setInterval(() => void this.servers().catch(() => undefined), every);
      this.refresher.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = undefined;
    try {
      if (this.client.status === 'ready') await withDeadline(this.client.quit(), 1000, 'quit timed out');
    } catch {
      // quitting a broken connection: disconnect below does the rest
    }
    this.client.disconnect();
  }

  /** Record counts for metrics: the last SCAN count; a new one starts when it is older than RECORD_COUNT_MS. */
  recordCounts(): RecordCounts | undefined {
    const c = this.counted;
    const now = this.now();
    if (!c.running && now - c.at >= RECORD_COUNT_MS && this.client.status === 'ready') {
      c.running = true;
      c.at = now;
      this.store
        .countRecords()
        .then((counts) => (c.counts = counts))
        .catch((err: Error) => this.log.debug({ err: err.message }, 'Redis record count failed'))
        .finally(() => (c.running = false));
    }
    return c.counts;
  }

  /** Per call kind: count, failures and latency since start. */
  callStats(): Record<string, RedisCallStats> {
    return Object.fromEntries(this.stats);
  }

  // ---------------------------------------------------------------------------------------------
  // Origins

  async register(origin: Origin): Promise<RegisterResult> {
    const key = serverKey(origin.id);
    const raw = encodeServerRecord(origin);
    const replacedRaws = await this.call('register', () => this.store.register(key, raw, origin.serverId, SERVER_KEY_TTL_S));
    this.remember(key, raw, { key, origin });
    let replaced: Origin | undefined;
    for (const r of replacedRaws) {
      try {
        replaced ??= decodeServerRecord(r);
      } catch {
        // a corrupt twin is gone all the same
      }
    }
    return { replaced };
  }

  async deregister(serverId: string): Promise<boolean> {
    return (await this.call('deregister', () => this.store.deregister(serverId))) > 0;
  }

  async origins(): Promise<OriginView[]> {
    let servers: KnownServer[];
    try {
      servers = await this.servers();
    } catch (err) {
      const cached = err instanceof BalancerUnavailableError ? this.cache?.origins() : undefined;
      if (cached) return cached;
      throw err;
    }
    const now = this.now();
    return servers.map(({ origin }) => ({ origin, alive: this.isAlive(origin, now), ageMs: now - origin.updatedAt }));
  }

  // ---------------------------------------------------------------------------------------------
  // Pins

  async pick(streamKey: string, request: PickRequest = {}): Promise<Origin> {
    return (await this.claim(streamKey, request)).origin;
  }

  async claim(streamKey: string, request: PickRequest): Promise<PickResult> {
    const ctx = () => this.context(streamKey, request);
    try {
      const { chosen, created } = await this.pickShared(streamKey, ctx);
      this.cache?.confirmPin(streamKey, chosen);
      return { origin: chosen.origin, created };
    } catch (err) {
      const cached = err instanceof BalancerUnavailableError ? this.cache?.pick(streamKey, ctx()) : undefined;
      if (cached) {
        this.log.debug({ stream: streamKey, origin: cached.id }, 'Redis unavailable: pin from the fallback cache');
        return { origin: cached, created: false };
      }
      throw err;
    }
  }

  /** Keeps the pin (re-created if a concurrent release dropped it; moved by compare-and-set on failover). */
  async commitPin(streamKey: string, origin: Origin, previous?: Origin): Promise<void> {
    const key = urlKey(streamKey);
    const server = serverKey(origin.id);
    if (previous && previous.id !== origin.id) {
      const held = await this.call('move-pin', () => this.store.movePin(key, serverKey(previous.id), server));
      if (held === server) {
        this.log.info({ stream: streamKey, from: previous.id, to: origin.id }, 'stream re-pinned: its origin could not be reached');
        return;
      }
    }
    await this.call('create-pin', () => this.store.createPin(key, server));
  }

  /** Deletes the pin only while it still names `origin` (another proxy may have moved it meanwhile). */
  async releasePin(streamKey: string, origin: Origin, live = false): Promise<void> {
    if (live) return;
    this.cache?.forgetPin(streamKey);
    await this.call('release-pin', () => this.store.deleteIf(urlKey(streamKey), serverKey(origin.id)));
  }

  async lookup(streamKey: string, request: PickRequest = {}): Promise<Origin | undefined> {
    try {
      const pinned = await this.pinned(streamKey);
      if (!pinned) return undefined;
      const ctx = this.context(streamKey, request);
      if (pinStanding(pinned.origin, ctx) === 'keep') return pinned.origin;
      const decision = decidePick(pinned, await this.servers(), (s) => s.origin, this.context(streamKey, request));
      return decision?.keep ? pinned.origin : undefined;
    } catch (err) {
      if (err instanceof BalancerUnavailableError && this.cache) return this.cache.lookup(streamKey, this.context(streamKey, request));
      throw err;
    }
  }

  async pins(limit: number): Promise<StreamPin[]> {
    const [pins, servers] = await Promise.all([this.call('pins', () => this.store.pins(limit)), this.servers()]);
    const byKey = new Map(servers.map((s) => [s.key, s.origin]));
    return pins.map(([streamKey, key]): StreamPin => {
      const id = originIdOfKey(key);
      const listed = byKey.get(key);
      if (listed) return { streamKey, originId: id, serverId: listed.serverId };
      // The pinned record is gone: if its server restarted, show the pin against the new record.
      const successor = successorOf(id, servers);
      return successor ? { streamKey, originId: successor.id, serverId: successor.serverId, replacedId: id } : { streamKey, originId: id, serverId: '' };
    });
  }

  /**
   * The stream's origin by the shared pick policy (routing/policy.ts). A new pin is SET NX, a moved
   * one compare-and-set: when another proxy pins first, its choice wins and is judged like any pin.
   */
  private async pickShared(streamKey: string, ctx: () => PickContext): Promise<{ chosen: KnownServer; created: boolean }> {
    const key = urlKey(streamKey);
    let pin = await this.call('resolve', () => this.store.resolve(key));
    for (let round = 0; round < MAX_PIN_ROUNDS; round++) {
      const current = pin && pin.raw !== '' ? this.known(pin.key, pin.raw) : undefined;
      if (current && pinStanding(current.origin, ctx()) === 'keep') return { chosen: current, created: false };
      const servers = await this.servers();
      const decision = decidePick(current, servers, (s) => s.origin, ctx());
      if (!decision) throw new NoOriginError(streamKey, servers.length === 0 ? 'no origin registered' : 'no origin takes new streams');
      if (decision.keep) return { chosen: decision.item, created: false };
      const chosen = decision.item;
      const won = pin
        ? (await this.call('move-pin', () => this.store.movePin(key, pin!.key, chosen.key))) === chosen.key
        : await this.call('create-pin', () => this.store.createPin(key, chosen.key));
      if (won) {
        if (pin)
          this.log.info(
            { stream: streamKey, from: originIdOfKey(pin.key), to: chosen.origin.id },
            'stream re-pinned: its origin expired, restarted or is down',
          );
        return { chosen, created: true };
      }
      // Another proxy pinned (or moved) it first: read its choice and check it like any pin.
      pin = await this.call('resolve', () => this.store.resolve(key));
    }
    throw new BalancerUnavailableError('pick', `the pin of ${streamKey} kept changing`);
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

  /** The stream's pinned server, when pinned to a readable record. */
  private async pinned(streamKey: string): Promise<KnownServer | undefined> {
    const pin = await this.call('resolve', () => this.store.resolve(urlKey(streamKey)));
    return pin && pin.raw !== '' ? this.known(pin.key, pin.raw) : undefined;
  }

  /** Every listed, readable server record (expired and corrupt ones skipped). */
  private async servers(): Promise<KnownServer[]> {
    const stored = await this.call('servers', () => this.store.listedServers());
    const out: KnownServer[] = [];
    for (const s of stored) {
      const known = s.raw === '' ? undefined : this.known(s.key, s.raw);
      if (known) out.push(known);
    }
    this.cache?.confirmServers(out);
    return out;
  }

  /** Parses a server record once per distinct JSON (a pick on a pinned stream re-parses nothing). */
  private known(key: string, raw: string): KnownServer | undefined {
    const hit = this.parsed.get(key);
    if (hit && hit.raw === raw) return hit.known;
    let known: KnownServer | undefined;
    try {
      const origin = decodeServerRecord(raw);
      // Pins name the key: it is the record's identity even if a foreign writer's fields disagree.
      origin.id = originIdOfKey(key);
      known = { key, origin };
    } catch (err) {
      this.log.warn({ key, err: (err as Error).message }, 'unreadable server record ignored');
    }
    this.remember(key, raw, known);
    return known;
  }

  private remember(key: string, raw: string, known: KnownServer | undefined): void {
    if (this.parsed.size >= MAX_PARSED_RECORDS && !this.parsed.has(key)) this.parsed.delete(this.parsed.keys().next().value as string);
    this.parsed.set(key, { raw, known });
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions

  async hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession> {
    const ttl = this.opts.sessionTtlMs;
    const byKey = hlsKey(streamKey);
    try {
      const existing = await this.readHls(byKey, ttl);
      if (existing) return existing;
      const session: HlsSession = { spbhid: this.newId(), streamKey, fullUrl: boundedHlsUrl(fullUrl) };
      // Refused before anything is written: at the budget Redis gets no new record from this proxy.
      this.hlsLedger.admit(redisHlsBytes(streamKey, session.spbhid, encodeHlsRecord(session)));
      // The id index first: whenever the key index names an id, that id resolves.
      for (let i = 0; ; i++) {
        if (i > 0) session.spbhid = this.newId();
        const raw = encodeHlsRecord(session);
        if (await this.call('hls-create', () => this.store.put(spbhidKey(session.spbhid), raw, ttl, true))) {
          if (await this.call('hls-create', () => this.store.put(byKey, raw, ttl, true))) {
            this.hlsLedger.note(streamKey, redisHlsBytes(streamKey, session.spbhid, raw));
            this.cache?.confirmHls(session);
            return session;
          }
          // Another proxy created this stream's session first: use theirs.
          await this.call('hls-create', () => this.store.del(spbhidKey(session.spbhid)));
          const theirs = await this.readHls(byKey, ttl);
          if (theirs) return theirs;
        }
        if (i >= 4) throw new BalancerUnavailableError('hls-create', 'could not create a session id');
      }
    } catch (err) {
      const cached = err instanceof BalancerUnavailableError ? this.cache?.hlsSession(streamKey) : undefined;
      if (cached) return cached;
      throw err;
    }
  }

  /** The stream's session, its TTL refreshed on both indexes (the id index re-written: it must resolve). */
  private async readHls(byKey: string, ttl: number): Promise<HlsSession | undefined> {
    const raw = await this.call('hls-get', () => this.store.getAndTouch(byKey, ttl));
    if (raw === null) return undefined;
    let s: HlsSession;
    try {
      s = decodeHlsRecord(raw);
    } catch (err) {
      this.log.warn({ key: byKey, err: (err as Error).message }, 'unreadable HLS record replaced');
      await this.call('hls-get', () => this.store.del(byKey));
      return undefined;
    }
    await this.call('hls-touch', () => this.store.put(spbhidKey(s.spbhid), raw, ttl));
    this.hlsLedger.note(s.streamKey, redisHlsBytes(s.streamKey, s.spbhid, raw));
    this.cache?.confirmHls(s);
    return s;
  }

  async hlsSessionById(spbhid: string): Promise<HlsSession | undefined> {
    const ttl = this.opts.sessionTtlMs;
    try {
      const raw = await this.call('hls-by-id', () => this.store.getAndTouch(spbhidKey(spbhid), ttl));
      if (raw === null) return undefined;
      let s: HlsSession;
      try {
        s = decodeHlsRecord(raw);
      } catch (err) {
        this.log.warn({ spbhid, err: (err as Error).message }, 'unreadable HLS record ignored');
        return undefined;
      }
      // A segment request keeps the playlist's record alive too, so the id stays stable while in use.
      await this.call('hls-touch', () => this.store.touch(hlsKey(s.streamKey), ttl));
      this.hlsLedger.note(s.streamKey, redisHlsBytes(s.streamKey, s.spbhid, raw));
      this.cache?.confirmHls(s);
      return s;
    } catch (err) {
      const cached = err instanceof BalancerUnavailableError ? this.cache?.hlsSessionById(spbhid) : undefined;
      if (cached) return cached;
      throw err;
    }
  }

  async hlsSessionOf(streamKey: string): Promise<HlsSession | undefined> {
    try {
      const raw = await this.call('hls-get', () => this.store.get(hlsKey(streamKey)));
      if (raw === null) return undefined;
      try {
        return decodeHlsRecord(raw);
      } catch {
        return undefined;
      }
    } catch (err) {
      if (err instanceof BalancerUnavailableError && this.cache) return this.cache.hlsSession(streamKey);
      throw err;
    }
  }

  async putRtcSession(session: RtcSession): Promise<void> {
    const raw = encodeRtcRecord(session);
    const ttl = this.opts.sessionTtlMs;
    await this.call('rtc-put', () => Promise.all([this.store.put(ufragKey(session.ufrag), raw, ttl), this.store.put(rtcKey(session.streamKey), raw, ttl)]));
    this.cache?.confirmRtc(session);
  }

  async rtcSession(ufrag: string): Promise<RtcSession | undefined> {
    try {
      const raw = await this.call('rtc-get', () => this.store.getAndTouch(ufragKey(ufrag), this.opts.sessionTtlMs));
      if (raw === null) return undefined;
      try {
        const s = decodeRtcRecord(raw);
        this.cache?.confirmRtc(s);
        return s;
      } catch (err) {
        this.log.warn({ ufrag, err: (err as Error).message }, 'unreadable WebRTC record ignored');
        return undefined;
      }
    } catch (err) {
      const cached = err instanceof BalancerUnavailableError ? this.cache?.rtcSession(ufrag) : undefined;
      if (cached) return cached;
      throw err;
    }
  }

  /** A secret shared by every proxy of the cluster: created once (SET NX) under `origin-proxy:secret:<name>`. */
  async sharedSecret(name: string, fresh: string): Promise<string> {
    return this.call('shared-secret', () => this.store.createOnce(`origin-proxy:secret:${name}`, fresh));
  }

  async deleteRtcSession(ufrag: string): Promise<void> {
    this.cache?.forgetRtc(ufrag);
    const key = ufragKey(ufrag);
    const raw = await this.call('rtc-delete', () => this.store.get(key));
    if (raw === null) return;
    await this.call('rtc-delete', () => this.store.del(key));
    let streamKey: string;
    try {
      streamKey = decodeRtcRecord(raw).streamKey;
    } catch {
      return; // an unreadable record has no by-stream index to tidy
    }
    // The by-stream index names the latest session of the stream: remove it only if it is this one.
    await this.call('rtc-delete', () => this.store.deleteIf(rtcKey(streamKey), raw));
  }

  // ---------------------------------------------------------------------------------------------

  private isAlive(o: Origin, now: number): boolean {
    return now - o.updatedAt < this.opts.originExpireMs;
  }

  /**
   * Runs one Redis call with its latency recorded (debug log per call); any failure becomes a
   * BalancerUnavailableError. While disconnected it fails at once, without queueing.
   */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const stats = this.stats.get(op) ?? { calls: 0, errors: 0, totalMs: 0, maxMs: 0 };
    this.stats.set(op, stats);
    stats.calls++;
    if (this.client.status !== 'ready') {
      stats.errors++;
      throw new BalancerUnavailableError(op, `Redis is not connected (${this.client.status}${this.lastError ? `: ${this.lastError}` : ''})`);
    }
    const t0 = performance.now();
    try {
      const value = await fn();
      const ms = performance.now() - t0;
      stats.totalMs += ms;
      if (ms > stats.maxMs) stats.maxMs = ms;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ redis: op, ms: Math.round(ms * 1000) / 1000 }, 'redis call');
      return value;
    } catch (err) {
      stats.errors++;
      const message = (err as Error).message;
      this.log.debug({ redis: op, err: message }, 'redis call failed');
      throw new BalancerUnavailableError(op, message, { cause: err });
    }
  }
}

/** Points at the variable to fix when Redis's answer says which one is wrong. */
function startupHint(reason: string): string {
  if (/WRONGPASS|NOAUTH|invalid password|AUTH/i.test(reason)) return ' (check PROXY_REDIS_PASSWORD, or the user and password of PROXY_REDIS_URL)';
  if (/DB index/i.test(reason)) return ' (check PROXY_REDIS_DB)';
  return '';
}

function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * The listed record that replaced a vanished one: record ids are `<server>-<service>-<pid>`, so the
 * successor is the record of the longest server id that prefixes the old id (server ids may hold '-').
 */
function successorOf(oldId: string, servers: readonly KnownServer[]): Origin | undefined {
  let best: Origin | undefined;
  for (const { origin } of servers) {
    if (origin.id === oldId || !oldId.startsWith(`${origin.serverId}-`)) continue;
    if (!best || origin.serverId.length > best.serverId.length) best = origin;
  }
  return best;
}
