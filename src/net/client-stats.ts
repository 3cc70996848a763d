// The bookkeeping behind each service's stats(): one Arrival per client (connection, request or
// session), bumped once when it arrives, once when its relay starts and once when it ends; bytes of
// live clients are read from their sockets (or the relay's own counters) only when stats are asked
// for. Refusals are counted by reason and logged at info, rate-limited per reason.
import type { Logger } from '../log.js';
import { LogBudget } from './drop-counter.js';
import { SetupHistogram, type ClientRole, type ProtocolStats } from './service-stats.js';

/** Bytes received from and sent to one client. */
export interface ClientBytes {
  in: number;
  out: number;
}

/** How long a sum of live clients' bytes is reused by stats() (bytes in /metrics and /api/v1/stats lag by at most this). */
export const LIVE_BYTES_MAX_AGE_MS = 5_000;

/** Refusal log lines let through per reason and per second; the rest are counted and summed in the next line. */
export const REFUSAL_LOGS_PER_SECOND = 5;

/** Counters of one protocol label (rtmp, flv, …). */
export class ClientCounters {
  private pending = 0;
  private readonly total = { publish: 0, play: 0 };
  private readonly closedBytes: ClientBytes = { in: 0, out: 0 };
  private readonly refused = new Map<string, number>();
  private readonly live = new Set<Arrival>();
  private readonly liveByRole = { publish: 0, play: 0 };
  /** The last sum of live clients' bytes, and when it was taken. */
  private liveSum: (ClientBytes & { at: number }) | undefined;
  /** Bytes of clients not tracked one by one (request-based protocols add them as each answer ends). */
  private readonly extraBytes: ClientBytes = { in: 0, out: 0 };
  private readonly setup = new SetupHistogram();
  private readonly refusalLog: RefusalLog;

  constructor(
    readonly protocol: string,
    private readonly now: () => number = Date.now,
  ) {
    this.refusalLog = new RefusalLog(protocol, now);
  }

  /** A client arrived (its role or stream may not be known yet). */
  arrive(at = this.now()): Arrival {
    this.pending++;
    return new Arrival(this, at);
  }

  /**
   * A client refused: counted under `reason`, and logged at info (protocol, stream, reason; `log`
   * carries the cid), at most REFUSAL_LOGS_PER_SECOND lines per reason and second.
   */
  refuse(reason: string, log?: Logger, fields: Record<string, unknown> = {}): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    if (log) this.refusalLog.log(log, reason, fields);
  }

  /** A played or published request-based answer (HLS/DASH): counted without a live entry. */
  countStarted(role: ClientRole, setupSeconds?: number): void {
    this.total[role]++;
    if (setupSeconds !== undefined) this.setup.observe(setupSeconds);
  }

  addBytes(inBytes: number, outBytes: number): void {
    this.extraBytes.in += inBytes;
    this.extraBytes.out += outBytes;
  }

  snapshot(dropped: Record<string, number> = {}, extraActive?: { publish?: number; play?: number }): ProtocolStats {
    // Built in one literal (read on every scrape): no throw-away histogram or nested copies.
    const live = this.liveBytes();
    return {
      active: {
        publish: this.liveByRole.publish + (extraActive?.publish ?? 0),
        play: this.liveByRole.play + (extraActive?.play ?? 0),
        pending: this.pending,
      },
      total: { publish: this.total.publish, play: this.total.play },
      bytes: { in: this.closedBytes.in + this.extraBytes.in + live.in, out: this.closedBytes.out + this.extraBytes.out + live.out },
      refused: Object.fromEntries(this.refused),
      dropped: { ...dropped },
      setup: this.setup,
    };
  }

  /**
   * Bytes of the live clients: a walk over every live client's socket counters, so with thousands of clients
   * it is reused for up to LIVE_BYTES_MAX_AGE_MS (a scrape a second must stay cheap). Clients starting and
   * ending keep the reused sum exact but for growth: each client's part in it is remembered, added when it
   * starts and taken out when it ends (its bytes then move to the closed total and must not count twice).
   */
  private liveBytes(): ClientBytes {
    const now = this.now();
    if (this.liveSum && now - this.liveSum.at < LIVE_BYTES_MAX_AGE_MS) return this.liveSum;
    const sum = { at: now, in: 0, out: 0 };
    for (const a of this.live) {
      const b = a.bytes();
      a.countedIn = b.in;
      a.countedOut = b.out;
      sum.in += b.in;
      sum.out += b.out;
    }
    this.liveSum = sum;
    return sum;
  }

  /** @internal Arrival's transitions. */
  onStart(a: Arrival): void {
    this.pending--;
    this.total[a.role!]++;
    this.liveByRole[a.role!]++;
    this.setup.observe(Math.max(0, this.now() - a.at) / 1000);
    this.live.add(a);
    if (this.liveSum) {
      const b = a.bytes();
      a.countedIn = b.in;
      a.countedOut = b.out;
      this.liveSum.in += b.in;
      this.liveSum.out += b.out;
    }
  }

  /** @internal */
  onEnd(a: Arrival, wasLive: boolean): void {
    if (!wasLive) {
      this.pending--;
      return;
    }
    this.live.delete(a);
    this.liveByRole[a.role!]--;
    if (this.liveSum) {
      this.liveSum.in -= a.countedIn;
      this.liveSum.out -= a.countedOut;
    }
    const b = a.bytes();
    this.closedBytes.in += b.in;
    this.closedBytes.out += b.out;
  }
}

/** One client's life as the counters see it: pending → live → done (or pending → done). */
export class Arrival {
  private state: 'pending' | 'live' | 'done' = 'pending';
  role: ClientRole | undefined;
  private readBytes: () => ClientBytes = () => ({ in: 0, out: 0 });
  /**
   * @internal Its part in the counters' reused sum of live bytes. Two numbers, not an object: a fresh
   * object stored in thousands of long-lived arrivals on every walk is old-to-young garbage the
   * scavenger must trace (it made the walk's GC cost more than the walk).
   */
  countedIn = 0;
  /** @internal */
  countedOut = 0;

  constructor(
    private readonly counters: ClientCounters,
    /** When the client arrived (ms). */
    readonly at: number,
  ) {}

  /** Its relay started (the origin accepted): counted as active and in total, setup time observed. */
  start(role: ClientRole, bytes: () => ClientBytes): void {
    if (this.state !== 'pending') return;
    this.state = 'live';
    this.role = role;
    this.readBytes = bytes;
    this.counters.onStart(this);
  }

  /** The client is gone (safe to call more than once, and without start). */
  end(): void {
    if (this.state === 'done') return;
    const wasLive = this.state === 'live';
    this.state = 'done';
    this.counters.onEnd(this, wasLive);
  }

  get live(): boolean {
    return this.state === 'live';
  }

  bytes(): ClientBytes {
    return this.readBytes();
  }
}

/** Info lines for refused clients, at most `perSecond` per reason; the suppressed ones are counted in the next. */
export class RefusalLog {
  private readonly budgets = new Map<string, { budget: LogBudget; suppressed: number }>();

  constructor(
    private readonly protocol: string,
    private readonly now: () => number = Date.now,
    private readonly perSecond = REFUSAL_LOGS_PER_SECOND,
    /** Reasons are a small fixed set; past this many distinct ones, new reasons share one budget. */
    private readonly maxReasons = 64,
  ) {}

  log(log: Logger, reason: string, fields: Record<string, unknown> = {}): boolean {
    const slot = this.budgets.size >= this.maxReasons && !this.budgets.has(reason) ? '(other)' : reason;
    let b = this.budgets.get(slot);
    if (!b) this.budgets.set(slot, (b = { budget: new LogBudget(this.now, this.perSecond), suppressed: 0 }));
    if (!b.budget.allow()) {
      b.suppressed++;
      return false;
    }
    const suppressed = b.suppressed;
    b.suppressed = 0;
    log.info({ protocol: this.protocol, reason, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, 'client refused');
    return true;
  }
}

/** `ip:port` of a peer, IPv6 in brackets. */
export function clientAddress(ip: string | undefined, port: number | undefined): string {
  const host = ip ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${port ?? 0}`;
}

/** The refusal reason of an HTTP error answered to a client: limits, bad requests, origin failures. */
export function httpRefusalReason(err: { status: number; reason?: string }): string {
  // An error that names its reason (HttpRefusal: origin-busy, …) is counted under it.
  if (typeof err.reason === 'string') return err.reason;
  if (err.status === 429 || err.status === 503) return 'limit';
  if (err.status === 502 || err.status === 504) return 'unreachable';
  if (err.status === 401 || err.status === 403) return 'forbidden';
  if (err.status >= 400 && err.status < 500) return 'bad-request';
  return 'error';
}
