// Active health probes: every origin is probed once per interval (a TCP connect to its first RTMP
// endpoint, then `GET /api/v1/versions` on its HTTP API when it has one). A run of `fails` failed
// probes marks it down, one good probe marks it up. A probe is bounded by the interval, the next one
// for the same origin starts only after it ended, and at most `maxConcurrent` run at once (the rest
// wait until a slot frees, oldest due first).
//
// Detection time: an origin that dies just after a good probe is noticed by the next probe, one
// interval later; waiting another full interval to confirm would put the worst case at two intervals
// plus scheduling lag. So a failed probe of an origin that is still up is confirmed sooner (a quarter
// interval after it ended; never later than its regular turn), and the timer wakes exactly when the
// next probe is due instead of polling. With the defaults (2 s, 2 fails) a refused origin is down
// within 2.5 s of its death.
import type { Logger } from '../log.js';
import { ProbeError, type ProbeDialer } from './probe-dialer.js';

export interface ProbeAddress {
  host: string;
  port: number;
}

export interface ProbeTarget {
  /** The origin record's id (`<server>-<service>-<pid>`): a restarted origin is a new target. */
  originId: string;
  serverId: string;
  rtmp: ProbeAddress;
  api?: ProbeAddress;
}

export interface ProbeVerdict {
  up: boolean;
  /** Why it is down (the last failure), or '' when up. */
  reason: string;
  /** When the verdict last changed (ms since the epoch; the first probe's start for a new target). */
  since: number;
  /** Consecutive failures so far. */
  fails: number;
}

export interface VerdictChange {
  target: ProbeTarget;
  verdict: ProbeVerdict;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ProberOptions {
  intervalMs: number;
  /** Consecutive failures that mark an origin down. */
  fails: number;
  /** Cap on probes in flight at once. */
  maxConcurrent?: number;
  dialer: ProbeDialer;
  now?: () => number;
  timers?: Timers;
  /** Called on every up ↔ down change, synchronously when the deciding probe ends. */
  onChange?: (change: VerdictChange) => void;
  log?: Logger;
}

/** The path probed on an origin's HTTP API (SRS answers it; so does any origin-proxy). */
export const PROBE_PATH = '/api/v1/versions';
export const DEFAULT_MAX_CONCURRENT_PROBES = 64;

interface Slot {
  target: ProbeTarget;
  nextDue: number;
  running: boolean;
  verdict: ProbeVerdict;
}

export class Prober {
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly maxConcurrent: number;
  private running = 0;
  private ticker: unknown;
  /** When the armed ticker fires (ms, this.now's clock). */
  private tickerAt = 0;
  /** The ticker runs (between start and stop); tests may drive tick() by hand without it. */
  private ticking = false;
  private stopped = false;

  constructor(private readonly opts: ProberOptions) {
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? realTimers;
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_PROBES);
  }

  /** The longest the ticker sleeps; it wakes earlier when a probe is due sooner. */
  get tickMs(): number {
    return Math.max(20, Math.min(250, Math.floor(this.opts.intervalMs / 8)));
  }

  /** Delay before a failed probe of an origin that is still up is repeated (confirming or clearing it). */
  get retryMs(): number {
    return Math.max(20, Math.floor(this.opts.intervalMs / 4));
  }

  start(): void {
    this.stopped = false;
    this.ticking = true;
    this.tick();
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.ticking = false;
    if (this.ticker !== undefined) this.timers.clear(this.ticker);
    this.ticker = undefined;
  }

  /**
   * Sets the ticker for the earliest due probe (at most tickMs away), unless it is already set to
   * fire by then. While every probe slot is taken, a finishing probe re-arms it.
   */
  private arm(): void {
    if (!this.ticking) return;
    const now = this.now();
    let at = now + this.tickMs;
    if (this.running < this.maxConcurrent) for (const s of this.slots.values()) if (!s.running && s.nextDue < at) at = s.nextDue;
    at = Math.max(at, now);
    if (this.ticker !== undefined) {
      if (this.tickerAt <= at) return;
      this.timers.clear(this.ticker);
    }
    this.tickerAt = at;
    this.ticker = this.timers.set(() => {
      this.ticker = undefined;
      if (!this.ticking) return;
      this.tick();
      this.arm();
    }, at - now);
  }

  /** Replaces the probed set: new targets are probed at once, gone ones forgotten (a probe in flight ends unseen). */
  setTargets(targets: readonly ProbeTarget[]): void {
    const seen = new Set<string>();
    const now = this.now();
    for (const t of targets) {
      seen.add(t.originId);
      const slot = this.slots.get(t.originId);
      if (slot) slot.target = t;
      else this.slots.set(t.originId, { target: t, nextDue: now, running: false, verdict: { up: true, reason: '', since: now, fails: 0 } });
    }
    for (const id of this.slots.keys()) if (!seen.has(id)) this.slots.delete(id);
    this.arm();
  }

  verdict(originId: string): ProbeVerdict | undefined {
    return this.slots.get(originId)?.verdict;
  }

  /** Probes in flight (tests, metrics). */
  get inFlight(): number {
    return this.running;
  }

  get size(): number {
    return this.slots.size;
  }

  /** Starts every due probe the concurrency cap allows, oldest due first. Runs on the ticker; public for tests. */
  tick(): void {
    if (this.running >= this.maxConcurrent) return;
    const now = this.now();
    const due: Slot[] = [];
    for (const s of this.slots.values()) if (!s.running && s.nextDue <= now) due.push(s);
    if (due.length === 0) return;
    due.sort((a, b) => a.nextDue - b.nextDue);
    for (const slot of due) {
      if (this.running >= this.maxConcurrent) break;
      this.launch(slot, now);
    }
  }

  private launch(slot: Slot, now: number): void {
    slot.running = true;
    slot.nextDue = now + this.opts.intervalMs;
    this.running++;
    const target = slot.target;
    void this.probe(target, this.opts.intervalMs).then(
      () => this.finish(slot, undefined),
      (err: Error) => this.finish(slot, err),
    );
  }

  private finish(slot: Slot, err: Error | undefined): void {
    this.running--;
    slot.running = false;
    // Forgotten (deregistered or restarted) while in flight: the result belongs to no one.
    if (!this.stopped && this.slots.get(slot.target.originId) === slot) this.judge(slot, err);
    // A probe slot is free: a probe that waited for one, or this origin's retry, may be due.
    this.arm();
  }

  /** Updates the verdict with one probe's outcome. */
  private judge(slot: Slot, err: Error | undefined): void {
    const v = slot.verdict;
    const now = this.now();
    if (!err) {
      v.fails = 0;
      if (!v.up) {
        slot.verdict = { up: true, reason: '', since: now, fails: 0 };
        this.opts.log?.debug({ origin: slot.target.originId }, 'origin probe succeeded: up');
        this.opts.onChange?.({ target: slot.target, verdict: slot.verdict });
      }
      return;
    }
    v.fails++;
    if (v.up) v.reason = err.message;
    if (v.up && v.fails >= this.opts.fails) {
      slot.verdict = { up: false, reason: `probe: ${err.message}`, since: now, fails: v.fails };
      this.opts.log?.debug({ origin: slot.target.originId, fails: v.fails, reason: err.message }, 'origin probes failed: down');
      this.opts.onChange?.({ target: slot.target, verdict: slot.verdict });
    } else if (!v.up) {
      v.reason = `probe: ${err.message}`;
    } else {
      // Suspect: confirm (or clear) soon rather than a whole interval later.
      slot.nextDue = Math.min(slot.nextDue, now + this.retryMs);
    }
  }

  /**
   * One probe, bounded by `timeoutMs` overall whatever the dialer does. The bound is fair as the dialer's own
   * (fair-timeout.ts): fired much later than due, the proxy was stalled, so it is re-armed once; and its
   * verdict waits a loop turn, so an answer read in the same turn wins.
   */
  private async probe(target: ProbeTarget, timeoutMs: number): Promise<void> {
    const started = this.now();
    let timer: unknown;
    const deadline = new Promise<never>((_, reject) => {
      const arm = (due: number, rearmed: boolean): void => {
        timer = this.timers.set(() => {
          if (!rearmed && this.now() - due >= Math.max(50, timeoutMs / 2)) return arm(this.now() + timeoutMs, true);
          setImmediate(() => reject(new ProbeError(`probe took longer than ${timeoutMs} ms`)));
        }, timeoutMs);
      };
      arm(started + timeoutMs, false);
    });
    try {
      await Promise.race([this.opts.dialer.tcp(target.rtmp.host, target.rtmp.port, timeoutMs), deadline]);
      if (target.api) {
        // The overall deadline bounds both steps; time lost to a stall of the proxy is not the origin's.
        const status = await Promise.race([this.opts.dialer.httpGet(target.api.host, target.api.port, PROBE_PATH, timeoutMs), deadline]);
        if (status >= 500 || status < 100) throw new ProbeError(`GET ${PROBE_PATH} answered ${status}`);
      }
    } finally {
      this.timers.clear(timer);
    }
  }
}
