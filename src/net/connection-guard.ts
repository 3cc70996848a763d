// Admission of client connections on one listener: a cap in total and per client IP
// (PROXY_MAX_CONNECTIONS, PROXY_MAX_CONNECTIONS_PER_IP), the shared file-descriptor budget, and the
// heap guard. A refused connection is closed at once; refusals are logged once per burst. With worker
// processes each worker admits its share of the caps (workerShare), so the proxy as a whole admits the
// configured number (docs/BEHAVIOUR.md §8.5).
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { FdBudget } from './fd-limit.js';

export interface ConnectionLimits {
  /** This process's caps (a worker's share of the configured ones). */
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** With worker processes: the configured caps and the worker count, for the refusal reason. */
  proxyWide?: { maxConnections: number; maxConnectionsPerIp: number; workers: number } | undefined;
  /** Shared by every client listener; undefined = no descriptor accounting. */
  fds?: FdBudget | undefined;
  overloaded?: (() => boolean) | undefined;
}

/**
 * A worker's share of a proxy-wide cap: the cap split over the workers so that the shares add up to it
 * (the first `cap % workers` slots take one more), and at least 1 (a worker with no share would refuse
 * every connection handed to it). Counting stays in each worker: no message per connection or packet.
 */
export function workerShare(cap: number, workers: number, slot: number): number {
  if (workers <= 1) return cap;
  return Math.max(1, Math.floor(cap / workers) + (slot < cap % workers ? 1 : 0));
}

/** The caps of one worker (slot) of `workers`, from the configured ones. */
export function workerLimits(limits: ConnectionLimits, workers: number, slot: number): ConnectionLimits {
  if (workers <= 1) return limits;
  return {
    ...limits,
    maxConnections: workerShare(limits.maxConnections, workers, slot),
    maxConnectionsPerIp: workerShare(limits.maxConnectionsPerIp, workers, slot),
    proxyWide: { maxConnections: limits.maxConnections, maxConnectionsPerIp: limits.maxConnectionsPerIp, workers },
  };
}

export class ConnectionGuard {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private refusedSinceLog = 0;
  private lastLog = 0;

  constructor(
    private readonly variable: string,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {}

  get connections(): number {
    return this.total;
  }

  /** Counts the socket in (released on close) or returns why it must be refused. */
  admit(socket: Socket): string | undefined {
    const ip = socket.remoteAddress ?? '';
    const fromIp = this.perIp.get(ip) ?? 0;
    let reason: string | undefined;
    if (this.total >= this.limits.maxConnections) reason = `PROXY_MAX_CONNECTIONS (${this.cap('maxConnections')}) reached`;
    else if (fromIp >= this.limits.maxConnectionsPerIp) reason = `PROXY_MAX_CONNECTIONS_PER_IP (${this.cap('maxConnectionsPerIp')}) reached`;
    else if (this.limits.overloaded?.()) reason = 'heap above PROXY_MAX_HEAP_RATIO';
    else if (this.limits.fds && !this.limits.fds.take()) reason = 'file descriptors down to PROXY_FD_RESERVE';
    if (reason) {
      this.refused(reason, ip);
      return reason;
    }
    this.total++;
    this.perIp.set(ip, fromIp + 1);
    socket.once('close', () => {
      this.total--;
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    });
    return undefined;
  }

  /** "N", or with workers "N; this worker's share S of W workers". */
  private cap(which: 'maxConnections' | 'maxConnectionsPerIp'): string {
    const wide = this.limits.proxyWide;
    const own = this.limits[which];
    return wide ? `${wide[which]}; this worker's share ${own} of ${wide.workers} workers` : String(own);
  }

  private refused(reason: string, ip: string): void {
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastLog < 10_000) return;
    this.lastLog = now;
    this.log.warn({ listener: this.variable, reason, client: ip, refused: this.refusedSinceLog }, 'client connections refused');
    this.refusedSinceLog = 0;
  }
}
