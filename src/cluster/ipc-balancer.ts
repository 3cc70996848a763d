// A worker's Balancer: every call is a request to the one memory balancer the primary owns, so all
// workers see the same origins, pins and sessions (one stream → one origin across workers).
// Requests made in the same event-loop turn travel as one message; each waits at most `timeoutMs`,
// and at most `maxPending` wait at once (beyond: refused at once, as an unavailable balancer).
import type { Balancer, HlsSession, OriginView, PickRequest, PickResult, RecordCounts, RegisterResult, RtcSession, StreamPin } from '../balancer/balancer.js';
import { BalancerUnavailableError } from '../balancer/balancer.js';
import type { Origin } from '../balancer/origin.js';
import { serves } from '../routing/policy.js';
import {
  decodeError,
  parseResponseBatch,
  REQUEST_TAG,
  type BalancerMethod,
  type Channel,
  type WireHealth,
  type WirePickRequest,
  type WireRequest,
} from './ipc-protocol.js';

export interface IpcBalancerOptions {
  channel: Channel;
  /** Longest wait for an answer (ms). */
  timeoutMs?: number;
  /** Most requests waiting for an answer at once. */
  maxPending?: number;
  /** The clock health states are judged at (the health monitor's). */
  now?: () => number;
  /**
   * How long the origin list is reused (ms of real time): for health tables and for `origins()` itself (the
   * router reads it on every route for failover targets; asking the primary each time cost a round trip per
   * request). A registration or removal through this worker, or a removal through worker 0, refreshes it.
   */
  originsCacheMs?: number;
  /** Malformed or unmatched answers (counted, then dropped). */
  onDropped?: (count: number) => void;
  /**
   * How long (ms of real time) answers that only read settled state are reused without asking: a stream
   * already pinned (claim/lookup that created nothing, on an origin the caller's health still calls up) and
   * HLS sessions. 0 = always ask. Another worker's change is seen after at most this long.
   */
  readCacheMs?: number;
  /** Most entries of that cache (it is emptied when full). */
  readCacheEntries?: number;
}

interface Cached<T> {
  at: number;
  value: T;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  method: BalancerMethod;
}

export class IpcBalancer implements Balancer {
  readonly kind = 'memory' as const;
  private readonly channel: Channel;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly originsCacheMs: number;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private outbox: WireRequest[] = [];
  private flushScheduled = false;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** Origins last read from the primary (refreshed after `originsCacheMs`, a registration here or a removal). */
  private originsCache: { at: number; views: OriginView[]; origins: Origin[] } | undefined;
  private originsLoading: Promise<OriginView[]> | undefined;
  private counts: RecordCounts | undefined;
  private countsLoading = false;
  private readonly secrets = new Map<string, Promise<string>>();
  private readonly readCacheMs: number;
  private readonly readCacheEntries: number;
  /** streamKey → the origin its committed pin names (a claim or lookup that created nothing, or a commit here). */
  private readonly pinCache = new Map<string, Cached<Origin>>();
  /** HLS sessions by spbhid and by stream key. */
  private readonly hlsById = new Map<string, Cached<HlsSession>>();
  private readonly hlsByKey = new Map<string, Cached<HlsSession>>();
  /** Answers dropped as malformed or unmatched. */
  dropped = 0;

  constructor(private readonly opts: IpcBalancerOptions) {
    this.channel = opts.channel;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxPending = opts.maxPending ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.originsCacheMs = opts.originsCacheMs ?? 500;
    this.readCacheMs = opts.readCacheMs ?? 0;
    this.readCacheEntries = opts.readCacheEntries ?? 10_000;
    this.unsubscribe = this.channel.onMessage((m) => this.onMessage(m));
  }

  async start(): Promise<void> {}

  /** Rejects whatever still waits and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.failAll('balancer closed');
  }

  /** The channel to the primary is gone (disconnect): everything waiting fails now instead of at its timeout. */
  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new BalancerUnavailableError(p.method, reason));
    }
  }

  /** Requests waiting for an answer (tests, metrics). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** A request of another kind on the same channel (the shared origin health, ipc-health-share.ts). */
  request<T>(method: BalancerMethod, args: unknown[]): Promise<T> {
    return this.call(method, args);
  }

  private call<T>(method: BalancerMethod, args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new BalancerUnavailableError(method, 'balancer closed'));
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new BalancerUnavailableError(method, `${this.pending.size} requests already wait for the primary process`));
    }
    const id = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER) this.nextId = 1;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BalancerUnavailableError(method, `the primary process did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, method });
      this.outbox.push({ id, m: method, a: args });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0) return;
    try {
      this.channel.send({ t: REQUEST_TAG, b: batch });
    } catch (err) {
      for (const r of batch)
        this.settle(r.id, (p) => p.reject(new BalancerUnavailableError(p.method, `cannot reach the primary process: ${(err as Error).message}`)));
    }
  }

  private settle(id: number, fn: (p: Pending) => void): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    fn(p);
    return true;
  }

  private onMessage(message: unknown): void {
    const batch = parseResponseBatch(message);
    if (!batch) return; // another kind of message
    let dropped = batch.dropped;
    for (const r of batch.valid) {
      const found = this.settle(r.id, (p) => (r.ok ? p.resolve(r.v) : p.reject(decodeError(r.e, p.method))));
      if (!found) dropped++;
    }
    if (dropped > 0) {
      this.dropped += dropped;
      this.opts.onDropped?.(dropped);
    }
  }

  /** The health table of a pick: every origin known here, judged by the caller's health monitor. */
  private async wirePick(request: PickRequest | undefined): Promise<WirePickRequest> {
    if (!request) return {};
    const wire: WirePickRequest = {};
    if (request.needs) wire.needs = [...request.needs];
    if (request.live !== undefined) wire.live = request.live;
    if (request.tentative !== undefined) wire.tentative = request.tentative;
    if (request.health) {
      const origins = await this.knownOrigins();
      const now = this.now();
      const health = request.health;
      const table: WireHealth = { o: origins.map((o) => [o.id, health.state(o, now), health.loadOf(o)]) };
      wire.health = table;
    }
    return wire;
  }

  private async knownOrigins(): Promise<Origin[]> {
    const c = this.originsCache;
    if (c && performance.now() - c.at < this.originsCacheMs) return c.origins;
    await this.origins();
    return this.originsCache?.origins ?? [];
  }

  private fresh<T>(map: Map<string, Cached<T>>, key: string): T | undefined {
    const c = map.get(key);
    if (!c) return undefined;
    if (performance.now() - c.at < this.readCacheMs) return c.value;
    map.delete(key);
    return undefined;
  }

  private remember<T>(map: Map<string, Cached<T>>, key: string, value: T): void {
    if (this.readCacheMs <= 0) return;
    if (map.size >= this.readCacheEntries) map.clear();
    map.set(key, { at: performance.now(), value });
  }

  /** A cached pin still usable for this request: the caller's health calls its origin up. */
  private cachedPin(streamKey: string, request: PickRequest | undefined): Origin | undefined {
    if (this.readCacheMs <= 0) return undefined;
    const origin = this.fresh(this.pinCache, streamKey);
    if (!origin) return undefined;
    if (request?.needs && !serves(origin, request.needs)) return undefined;
    if (request?.health && request.health.state(origin, this.now()) !== 'up') return undefined;
    return origin;
  }

  private forgetOrigins(): void {
    this.originsCache = undefined;
    this.originsLoading = undefined;
  }

  private forgetPins(): void {
    this.pinCache.clear();
  }

  /** An origin was registered through worker 0's API: the next read of the list asks the primary. */
  originsChanged(): void {
    this.forgetOrigins();
  }

  /**
   * An origin was removed through worker 0's API: what this worker read before must not send a stream there
   * (a cached pin would re-commit it to the removed origin in the primary).
   */
  originRemoved(): void {
    this.forgetOrigins();
    this.forgetPins();
  }

  async register(origin: Origin): Promise<RegisterResult> {
    const r = await this.call<{ replaced?: Origin }>('register', [origin]);
    this.forgetOrigins();
    if (r?.replaced) this.forgetPins();
    return { replaced: r?.replaced };
  }

  async deregister(serverId: string): Promise<boolean> {
    const r = await this.call<boolean>('deregister', [serverId]);
    this.forgetOrigins();
    this.forgetPins();
    return r;
  }

  /** The origin list, read from the primary at most every `originsCacheMs` (one read in flight at a time). */
  origins(): Promise<OriginView[]> {
    const c = this.originsCache;
    if (c && performance.now() - c.at < this.originsCacheMs) return Promise.resolve(c.views);
    if (this.originsLoading) return this.originsLoading;
    const loading = this.call<OriginView[]>('origins', []).then((views) => {
      // A registration or removal while this read was in flight made it stale: do not keep it.
      if (this.originsLoading === loading) this.originsCache = { at: performance.now(), views, origins: views.map((v) => v.origin) };
      return views;
    });
    this.originsLoading = loading;
    const clear = () => {
      if (this.originsLoading === loading) this.originsLoading = undefined;
    };
    loading.then(clear, clear);
    return loading;
  }

  async pick(streamKey: string, request?: PickRequest): Promise<Origin> {
    return this.call('pick', [streamKey, await this.wirePick(request)]);
  }

  async claim(streamKey: string, request: PickRequest): Promise<PickResult> {
    const cached = this.cachedPin(streamKey, request);
    if (cached) return { origin: cached, created: false };
    const r = await this.call<PickResult>('claim', [streamKey, await this.wirePick(request)]);
    if (!r.created) this.remember(this.pinCache, streamKey, r.origin);
    return r;
  }

  /**
   * A commit that changes nothing (the stream is pinned to this origin, as read or committed here within
   * the cache time) is not sent: in the primary it would only refresh the pin's LRU position. Every IPC
   * message costs a write and a wakeup of the primary. A commit sent and answered is remembered: the pin
   * is committed to that origin now (under steady concurrent requests a claim keeps joining the stream's
   * lease and reports `created`, so commits are what fills this cache).
   */
  async commitPin(streamKey: string, origin: Origin, previous?: Origin): Promise<void> {
    if (previous) this.forgetPins();
    else if (this.readCacheMs > 0 && this.fresh(this.pinCache, streamKey)?.id === origin.id) return;
    await this.call('commitPin', previous ? [streamKey, origin, previous] : [streamKey, origin]);
    this.remember(this.pinCache, streamKey, origin);
  }

  releasePin(streamKey: string, origin: Origin, live?: boolean): Promise<void> {
    return this.call('releasePin', live === undefined ? [streamKey, origin] : [streamKey, origin, live]);
  }

  async lookup(streamKey: string, request?: PickRequest): Promise<Origin | undefined> {
    const cached = this.cachedPin(streamKey, request);
    if (cached) return cached;
    const r = (await this.call<Origin | null>('lookup', [streamKey, await this.wirePick(request)])) ?? undefined;
    if (r) this.remember(this.pinCache, streamKey, r);
    return r;
  }

  pins(limit: number): Promise<StreamPin[]> {
    return this.call('pins', [limit]);
  }

  /** A session reused from the cache is refreshed in the primary at most every `readCacheMs` (its TTL is far longer). */
  async hlsSession(streamKey: string, fullUrl: string): Promise<HlsSession> {
    const cached = this.fresh(this.hlsByKey, streamKey);
    if (cached) return cached;
    const s = await this.call<HlsSession>('hlsSession', [streamKey, fullUrl]);
    this.remember(this.hlsByKey, streamKey, s);
    this.remember(this.hlsById, s.spbhid, s);
    return s;
  }

  async hlsSessionById(spbhid: string): Promise<HlsSession | undefined> {
    const cached = this.fresh(this.hlsById, spbhid);
    if (cached) return cached;
    const s = (await this.call<HlsSession | null>('hlsSessionById', [spbhid])) ?? undefined;
    if (s) this.remember(this.hlsById, spbhid, s);
    return s;
  }

  async hlsSessionOf(streamKey: string): Promise<HlsSession | undefined> {
    const cached = this.fresh(this.hlsByKey, streamKey);
    if (cached) return cached;
    return (await this.call<HlsSession | null>('hlsSessionOf', [streamKey])) ?? undefined;
  }

  putRtcSession(session: RtcSession): Promise<void> {
    return this.call('putRtcSession', [session]);
  }

  async rtcSession(ufrag: string): Promise<RtcSession | undefined> {
    return (await this.call<RtcSession | null>('rtcSession', [ufrag])) ?? undefined;
  }

  deleteRtcSession(ufrag: string): Promise<void> {
    return this.call('deleteRtcSession', [ufrag]);
  }

  /** One secret for every worker (the primary keeps the first one offered); asked once per name. */
  sharedSecret(name: string, fresh: string): Promise<string> {
    let s = this.secrets.get(name);
    if (!s) {
      s = this.call<string>('sharedSecret', [name, fresh]);
      s.catch(() => this.secrets.delete(name));
      this.secrets.set(name, s);
    }
    return s;
  }

  /** The last counts read from the primary (refreshed in the background on each call; undefined at first). */
  /** Reads the record counts now (a scrape that must not show the previous scrape's). */
  async loadRecordCounts(): Promise<void> {
    if (this.closed) return;
    this.counts = await this.call<RecordCounts>('recordCounts', []);
  }

  recordCounts(): RecordCounts | undefined {
    if (!this.countsLoading && !this.closed) {
      this.countsLoading = true;
      this.call<RecordCounts>('recordCounts', [])
        .then((c) => {
          this.counts = c;
        })
        .catch(() => undefined)
        .finally(() => {
          this.countsLoading = false;
        });
    }
    return this.counts;
  }
}
