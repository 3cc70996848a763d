// Counting of dropped datagrams (and other refusals an attacker can trigger at will), shared by the
// UDP protocols. A flood of bad packets costs a counter increment each, not a log line each: every
// reason logs at debug at most once per interval, with the count since its last line and the latest
// sender.
import type { Logger } from '../log.js';

export class DropCounter<R extends string> {
  private readonly counts = new Map<R, number>();
  private readonly unlogged = new Map<R, number>();
  private readonly lastLogAt = new Map<R, number>();

  /**
   * @param reasons every reason, so snapshots list the ones never seen as 0
   * @param message the debug log message, e.g. 'srt datagram dropped'
   */
  constructor(
    private readonly log: Logger,
    private readonly reasons: readonly R[],
    private readonly message: string,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 1000,
  ) {}

  /** Counts one drop; `from` is its sender ("ip:port"). */
  drop(reason: R, from: string, detail?: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    const unlogged = (this.unlogged.get(reason) ?? 0) + 1;
    this.unlogged.set(reason, unlogged);
    if (!this.log.isLevelEnabled('debug')) return;
    const now = this.now();
    const last = this.lastLogAt.get(reason);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.lastLogAt.set(reason, now);
    this.unlogged.set(reason, 0);
    this.log.debug({ reason, dropped: unlogged, from, ...(detail === undefined ? {} : { detail }) }, this.message);
  }

  count(reason: R): number {
    return this.counts.get(reason) ?? 0;
  }

  /** Counts so far, every reason included. */
  snapshot(): Record<R, number> {
    const out = {} as Record<R, number>;
    for (const r of this.reasons) out[r] = this.count(r);
    return out;
  }

  total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}

/** Lets through at most `perInterval` events per interval (for log lines an attacker could trigger). */
export class LogBudget {
  private windowStart = -Infinity;
  private used = 0;

  constructor(
    private readonly now: () => number,
    private readonly perInterval: number,
    private readonly intervalMs = 1000,
  ) {}

  /** True when one more event may be logged now. */
  allow(): boolean {
    const now = this.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.used = 0;
    }
    return this.used++ < this.perInterval;
  }
}
