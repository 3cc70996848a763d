// Admission of client connections on one listener: a cap in total and per client IP
// (PROXY_MAX_CONNECTIONS, PROXY_MAX_CONNECTIONS_PER_IP), the shared file-descriptor budget, and the
// heap guard. A refused connection is closed at once; refusals are logged once per burst.
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { FdBudget } from './fd-limit.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Shared by every client listener; undefined = no descriptor accounting. */
  fds?: FdBudget | undefined;
  overloaded?: (() => boolean) | undefined;
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
    if (this.total >= this.limits.maxConnections) reason = `PROXY_MAX_CONNECTIONS (${this.limits.maxConnections}) reached`;
    else if (fromIp >= this.limits.maxConnectionsPerIp) reason = `PROXY_MAX_CONNECTIONS_PER_IP (${this.limits.maxConnectionsPerIp}) reached`;
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

  private refused(reason: string, ip: string): void {
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastLog < 10_000) return;
    this.lastLog = now;
    this.log.warn({ listener: this.variable, reason, client: ip, refused: this.refusedSinceLog }, 'client connections refused');
    this.refusedSinceLog = 0;
  }
}
