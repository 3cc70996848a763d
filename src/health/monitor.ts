// Origin health for routing: one place that decides whether an origin may take new streams and how
// loaded it is, from heartbeats (age, restarts, removal), active probes, drain marks and load
// reports, and that closes every relay to an origin the moment it is judged down, so its players
// and encoders reconnect and land on a live origin.
import type { Balancer, OriginView } from '../balancer/balancer.js';
import { dialTargets, type Origin } from '../balancer/origin.js';
import type { Logger } from '../log.js';
import type { HealthState, OriginHealth } from '../routing/health.js';
import type { RelayRegistry } from '../routing/relays.js';
import { loadScore } from './load.js';
import type { ProbeDialer } from './probe-dialer.js';
import { Prober, realTimers, type ProbeTarget, type Timers, type VerdictChange } from './prober.js';
import { emptySnapshot, type HealthShare, type HealthSnapshot } from './shared.js';

export type OriginState = 'up' | 'down' | 'draining';

/** Time constant of the decay of recent placements in the load score (see noteNewStream). */
const PLACEMENT_DECAY_MS = 5000;

export interface OriginStatus {
  state: OriginState;
  /** Why it is not up ('' when up). */
  reason: string;
  /** Since when it has been in this state (ms since the epoch). */
  since: number;
}

/** What the monitor needs of the relay registry: close an origin's relays, count them per origin. */
export type RelayControl = Pick<RelayRegistry, 'closeOrigin' | 'counts'>;

export interface HealthMonitorOptions {
  balancer: Balancer;
  /** 0 = no active probes (heartbeats, removals and drains still count). */
  intervalMs: number;
  fails: number;
  originExpireMs: number;
  dialer: ProbeDialer;
  share: HealthShare;
  relays?: RelayControl;
  log: Logger;
  now?: () => number;
  timers?: Timers;
  maxConcurrentProbes?: number;
  /** How often the origin list and the shared view are re-read (default min(500 ms, interval)). */
  syncMs?: number;
}

interface Seen {
  originId: string;
  status: OriginStatus;
}

export class HealthMonitor implements OriginHealth {
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly prober: Prober | undefined;
  private readonly log: Logger;
  private snapshot: HealthSnapshot = emptySnapshot();
  /** Last status of every listed origin, by server id (transitions close relays). */
  private readonly seen = new Map<string, Seen>();
  private relayCounts: ReadonlyMap<string, number> = new Map();
  /** New streams placed on each origin lately, decaying (see noteNewStream); one entry per origin. */
  private readonly placements = new Map<string, { count: number; at: number }>();
  /** Origins missing from the origin list without a DELETE here, and since when (ms). */
  private readonly vanished = new Map<string, number>();
  private syncTimer: unknown;
  private syncing: Promise<void> | undefined;
  private stopped = true;
  /**
   * Drain changes this proxy made, shown until a sync that began after the change has read the shared
   * view (which then holds them, or a later change by another proxy): server id → since (undefined =
   * undrained) and the change's sequence number.
   */
  private readonly localDrains = new Map<string, { since: number | undefined; seq: number }>();
  private drainSeq = 0;

  constructor(private readonly opts: HealthMonitorOptions) {
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    this.log = opts.log.child({ module: 'health' });
    if (opts.intervalMs > 0) {
      this.prober = new Prober({
        intervalMs: opts.intervalMs,
        fails: opts.fails,
        dialer: opts.dialer,
        now: this.now,
        timers: this.timers,
        log: this.log,
        onChange: (c) => this.onVerdict(c),
        ...(opts.maxConcurrentProbes ? { maxConcurrent: opts.maxConcurrentProbes } : {}),
      });
    }
  }

  get syncMs(): number {
    return this.opts.syncMs ?? Math.max(50, Math.min(500, this.opts.intervalMs || 500));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.sync().catch((err: Error) => this.log.warn({ err: err.message }, 'health sync failed'));
    this.prober?.start();
    const loop = () => {
      if (this.stopped) return;
      void this.sync()
        .catch((err: Error) => this.log.debug({ err: err.message }, 'health sync failed'))
        .finally(() => {
          if (!this.stopped) this.syncTimer = this.timers.set(loop, this.syncMs);
        });
    };
    this.syncTimer = this.timers.set(loop, this.syncMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.prober?.stop();
    if (this.syncTimer !== undefined) this.timers.clear(this.syncTimer);
    await this.syncing?.catch(() => undefined);
    await this.opts.share.close();
  }

  // ---------------------------------------------------------------------------------------------
  // The routing hook

  /**
   * The routing view: the listed state, plus `suspect` for an origin that is up but whose last probe
   * failed (no new streams while another is up; its live streams keep their pins).
   */
  state(origin: Origin, now: number): HealthState {
    // Runs on every pick: the same order as statusOf, without building its reason and since.
    if (now >= origin.updatedAt + this.opts.originExpireMs) return 'down';
    const probe = this.prober?.verdict(origin.id);
    if (probe !== undefined && !probe.up) return 'down';
    const snap = this.snapshot;
    if (snap.down.size > 0 && snap.down.get(origin.serverId)?.originId === origin.id) return 'down';
    const local = this.localDrains.size > 0 ? this.localDrains.get(origin.serverId) : undefined;
    if (local) {
      if (local.since !== undefined) return 'draining';
    } else if (snap.drained.size > 0 && snap.drained.has(origin.serverId)) {
      return 'draining';
    }
    return probe !== undefined && probe.fails > 0 ? 'suspect' : 'up';
  }

  loadOf(origin: Origin): number {
    const shared = this.snapshot.loads.get(origin.serverId);
    const fromShare = shared && shared.originId === origin.id ? shared : undefined;
    const local = this.relayCounts.get(origin.serverId) ?? 0;
    const cluster = this.snapshot.relays.get(origin.serverId) ?? 0;
    const placed = this.recentPlacements(origin.serverId, this.now());
    return loadScore(origin.load ?? fromShare?.load, Math.max(local, cluster) + placed, origin.weight ?? fromShare?.weight ?? 1);
  }

  /**
   * Counts a new stream on the origin at once: relay counts are re-read on a timer and load reports
   * arrive with heartbeats, so without this a burst of new streams would all see the same loads and
   * land on one origin. The count decays with a time constant of PLACEMENT_DECAY_MS, by which time
   * the stream shows up in the slower signals (or never started).
   */
  noteNewStream(origin: Origin, now: number): void {
    this.placements.set(origin.serverId, { count: this.recentPlacements(origin.serverId, now) + 1, at: now });
  }

  private recentPlacements(serverId: string, now: number): number {
    const p = this.placements.get(serverId);
    if (!p) return 0;
    const count = p.count * Math.exp(-Math.max(0, now - p.at) / PLACEMENT_DECAY_MS);
    if (count < 0.01) this.placements.delete(serverId);
    return count;
  }

  /** The state shown in the origin list and used by `eligible`: down beats draining beats up. */
  statusOf(origin: Origin, now: number): OriginStatus {
    const expiredAt = origin.updatedAt + this.opts.originExpireMs;
    if (now >= expiredAt) {
      return { state: 'down', reason: `no heartbeat for ${Math.round((now - origin.updatedAt) / 1000)} s`, since: expiredAt };
    }
    const probe = this.prober?.verdict(origin.id);
    if (probe && !probe.up) return { state: 'down', reason: probe.reason, since: probe.since };
    const shared = this.snapshot.down.get(origin.serverId);
    if (shared && shared.originId === origin.id) return { state: 'down', reason: `${shared.reason} (seen by another proxy)`, since: shared.since };
    const local = this.localDrains.get(origin.serverId);
    const drainedSince = local ? local.since : this.snapshot.drained.get(origin.serverId);
    if (drainedSince !== undefined) return { state: 'draining', reason: 'drained by API', since: drainedSince };
    const last = this.seen.get(origin.serverId);
    const since = last && last.originId === origin.id && last.status.state === 'up' ? last.status.since : now;
    return { state: 'up', reason: '', since };
  }

  /** Extra fields of the origin list (`state`, `reason`, `since`). */
  describe(view: OriginView): Record<string, unknown> {
    const s = this.statusOf(view.origin, this.now());
    const out: Record<string, unknown> = { state: s.state, since: new Date(s.since).toISOString() };
    if (s.reason) out.reason = s.reason;
    out.relays = this.relayCounts.get(view.origin.serverId) ?? 0;
    const shared = this.snapshot.loads.get(view.origin.serverId);
    const fromShare = shared && shared.originId === view.origin.id ? shared : undefined;
    const weight = view.origin.weight ?? fromShare?.weight;
    const load = view.origin.load ?? fromShare?.load;
    if (weight !== undefined) out.weight = weight;
    if (load) out.load = load;
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Drain

  /** Marks an origin draining (no new streams). False when no origin has this server id. */
  async drain(serverId: string): Promise<boolean> {
    if (!(await this.known(serverId))) return false;
    const since = this.snapshot.drained.get(serverId) ?? this.now();
    await this.opts.share.setDrain(serverId, since);
    this.localDrains.set(serverId, { since, seq: ++this.drainSeq });
    this.log.info({ server: serverId }, 'origin draining: no new streams');
    return true;
  }

  async undrain(serverId: string): Promise<boolean> {
    if (!(await this.known(serverId))) return false;
    await this.opts.share.setDrain(serverId, undefined);
    this.localDrains.set(serverId, { since: undefined, seq: ++this.drainSeq });
    this.log.info({ server: serverId }, 'origin undrained: takes new streams again');
    return true;
  }

  private async known(serverId: string): Promise<boolean> {
    return (await this.opts.balancer.origins()).some((v) => v.origin.serverId === serverId);
  }

  // ---------------------------------------------------------------------------------------------
  // Events from the register path (this proxy); other proxies learn them on their next sync.

  /**
   * A heartbeat arrived. `replaced` is the record a restart replaced: its relays are gone for good. True when
   * this record was new here (a first registration or a restart), false for a heartbeat of a known one.
   */
  onRegistered(origin: Origin, replaced: Origin | undefined): boolean {
    if (origin.load || origin.weight !== undefined) {
      const load = { originId: origin.id, ...(origin.load ? { load: origin.load } : {}), ...(origin.weight !== undefined ? { weight: origin.weight } : {}) };
      void this.opts.share.publishLoad(origin.serverId, load).catch((err: Error) => this.log.debug({ err: err.message }, 'load not shared'));
    }
    if (replaced) this.closeRelays(replaced.serverId, replaced.id, `restarted (new record ${origin.id})`);
    const i = this.views.findIndex((v) => v.origin.serverId === origin.serverId);
    const isNew = i < 0 || this.views[i]!.origin.id !== origin.id || replaced !== undefined;
    const view: OriginView = { origin, alive: true, ageMs: 0 };
    if (i >= 0) this.views[i] = view;
    else this.views.push(view);
    this.observe(origin, this.now());
    this.refreshTargets();
    return isNew;
  }

  /** An origin was removed (DELETE): no new streams, and its relays are closed now. */
  onDeregistered(serverId: string): void {
    const last = this.seen.get(serverId);
    this.log.info({ server: serverId, origin: last?.originId, reason: 'removed by API' }, 'origin forgotten');
    this.seen.delete(serverId);
    this.vanished.delete(serverId);
    this.localDrains.delete(serverId);
    void this.opts.share.setDrain(serverId, undefined).catch(() => undefined);
    // A down verdict about the removed record must not judge a record registered again under the same ids (a
    // shared store keeps it for its TTL: the supervisor's with worker processes, Redis).
    if (last) void this.opts.share.publishUp(serverId, last.originId).catch(() => undefined);
    this.views = this.views.filter((v) => v.origin.serverId !== serverId);
    this.closeRelays(serverId, last?.originId, 'removed');
    this.refreshTargets();
  }

  // ---------------------------------------------------------------------------------------------
  // Sync

  /** Re-reads the origin list and the shared view, and acts on every change. Runs on a timer; public for tests. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private views: OriginView[] = [];

  private async syncOnce(): Promise<void> {
    const drainSeqAtStart = this.drainSeq;
    const views = await this.opts.balancer.origins();
    this.views = views;
    const ids = views.map((v) => v.origin.serverId);
    this.relayCounts = this.opts.relays ? this.opts.relays.counts() : new Map();
    await this.opts.share.publishRelays(this.relayCounts).catch((err: Error) => this.log.debug({ err: err.message }, 'relay counts not shared'));
    this.snapshot = await this.opts.share.read(ids);
    // Changes written before this read began are in the shared view now (or were superseded there).
    for (const [id, change] of this.localDrains) if (change.seq <= drainSeqAtStart) this.localDrains.delete(id);
    const now = this.now();
    const listed = new Set(ids);
    for (const v of views) this.observe(v.origin, now);
    for (const [serverId, last] of this.seen) {
      if (listed.has(serverId)) {
        this.vanished.delete(serverId);
        continue;
      }
      // Gone from the shared list without a DELETE through this proxy: removed through another proxy, or
      // Redis restarted empty (every origin registers again with its next heartbeat). Its relays are
      // closed only if it stays gone for PROXY_ORIGIN_EXPIRE, so a Redis restart cuts no stream.
      const since = this.vanished.get(serverId);
      if (since === undefined) {
        this.vanished.set(serverId, now);
        continue;
      }
      if (now - since < this.opts.originExpireMs) continue;
      this.vanished.delete(serverId);
      this.seen.delete(serverId);
      this.log.info({ server: serverId, origin: last.originId, reason: 'no longer registered' }, 'origin forgotten');
      this.closeRelays(serverId, last.originId, 'no longer registered');
    }
    // Keep saying "down" while this proxy's probes see it down (the shared mark lapses otherwise).
    if (this.prober) {
      for (const v of views) {
        const p = this.prober.verdict(v.origin.id);
        if (p && !p.up)
          await this.opts.share.publishDown(v.origin.serverId, { originId: v.origin.id, reason: p.reason, since: p.since }).catch(() => undefined);
      }
    }
    this.refreshTargets();
  }

  /** Records an origin's current status; a change to down closes its relays. */
  private observe(origin: Origin, now: number): void {
    const status = this.statusOf(origin, now);
    const last = this.seen.get(origin.serverId);
    const about = { server: origin.serverId, origin: origin.id, state: status.state, ...(status.reason ? { reason: status.reason } : {}) };
    if (!last) {
      // First sight on this proxy: a new origin, or (after this proxy started) one already in the shared list.
      this.log.info({ ...about, ip: origin.ip, ...(origin.version ? { version: origin.version } : {}) }, 'origin registered');
    } else if (last.originId !== origin.id) {
      // A restart, through this proxy's register path or seen in the shared list (another proxy got the heartbeat).
      this.log.info({ ...about, replaced: last.originId, ...(origin.version ? { version: origin.version } : {}) }, 'origin restarted: record replaced');
      this.closeRelays(origin.serverId, last.originId, `restarted (new record ${origin.id})`);
    }
    const wasDown = last !== undefined && last.originId === origin.id && last.status.state === 'down';
    if (!last || last.originId !== origin.id || last.status.state !== status.state) {
      if (last && last.originId === origin.id) this.log.info({ ...about, was: last.status.state }, 'origin state changed');
      this.seen.set(origin.serverId, { originId: origin.id, status });
    }
    if (status.state === 'down' && !wasDown) this.closeRelays(origin.serverId, origin.id, status.reason);
  }

  private onVerdict(change: VerdictChange): void {
    const { target, verdict } = change;
    const share = this.opts.share;
    const p = verdict.up
      ? share.publishUp(target.serverId, target.originId)
      : share.publishDown(target.serverId, { originId: target.originId, reason: verdict.reason, since: verdict.since });
    void p.catch((err: Error) => this.log.debug({ err: err.message }, 'verdict not shared'));
    if (!verdict.up) {
      // A restarted record's verdict may arrive late: only the listed record counts.
      const origin = this.views.find((v) => v.origin.id === target.originId)?.origin;
      if (origin) this.observe(origin, this.now());
      else this.closeRelays(target.serverId, target.originId, verdict.reason);
    } else {
      const origin = this.views.find((v) => v.origin.id === target.originId)?.origin;
      if (origin) {
        // The shared mark about this record is withdrawn with ours.
        const shared = this.snapshot.down.get(target.serverId);
        if (shared && shared.originId === target.originId) this.snapshot.down.delete(target.serverId);
        this.observe(origin, this.now());
      }
    }
  }

  private refreshTargets(): void {
    if (!this.prober) return;
    const targets: ProbeTarget[] = [];
    for (const v of this.views) {
      const rtmp = dialTargets(v.origin, 'rtmp', 'tcp')[0];
      if (!rtmp) continue;
      const api = dialTargets(v.origin, 'api', 'tcp')[0];
      targets.push({
        originId: v.origin.id,
        serverId: v.origin.serverId,
        rtmp: { host: rtmp.host, port: rtmp.port },
        ...(api ? { api: { host: api.host, port: api.port } } : {}),
      });
    }
    this.prober.setTargets(targets);
  }

  private closeRelays(serverId: string, originId: string | undefined, reason: string): void {
    const relays = this.opts.relays;
    if (!relays) return;
    const closed = relays.closeOrigin(serverId);
    if (closed > 0) this.log.warn({ server: serverId, origin: originId, relays: closed, reason }, 'origin down: its relays closed');
  }
}
