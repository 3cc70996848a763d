// Passive health: an origin endpoint whose dial was refused or timed out is skipped for a backoff
// (1 s, doubling per further failure up to 30 s); a successful dial clears it. Keyed by transport,
// host and port, so every stream and protocol sharing the endpoint benefits from one failure.
import type { DialTarget } from '../balancer/origin.js';

export interface BackoffOptions {
  now: () => number;
  initialMs?: number;
  maxMs?: number;
  /** Endpoints remembered at most (the oldest failure is forgotten first). */
  maxEntries?: number;
}

interface Failure {
  failures: number;
  until: number;
}

export class EndpointBackoff {
  private readonly failed = new Map<string, Failure>();
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly maxEntries: number;

  constructor(private readonly opts: BackoffOptions) {
    this.initialMs = opts.initialMs ?? 1000;
    this.maxMs = opts.maxMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** Whether the endpoint is in its backoff now. */
  isDown(target: DialTarget): boolean {
    // Checked for every endpoint of every route: no key is built while nothing is in backoff.
    if (this.failed.size === 0) return false;
    const f = this.failed.get(keyOf(target));
    return f !== undefined && this.opts.now() < f.until;
  }

  /** ms until the endpoint may be tried again (0 when it may be now). */
  remainingMs(target: DialTarget): number {
    const f = this.failed.get(keyOf(target));
    return f === undefined ? 0 : Math.max(0, f.until - this.opts.now());
  }

  fail(target: DialTarget): number {
    const key = keyOf(target);
    const previous = this.failed.get(key);
    const failures = (previous?.failures ?? 0) + 1;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(failures - 1, 30));
    this.failed.delete(key);
    this.failed.set(key, { failures, until: this.opts.now() + delay });
    if (this.failed.size > this.maxEntries) this.failed.delete(this.failed.keys().next().value as string);
    return delay;
  }

  succeed(target: DialTarget): void {
    if (this.failed.size > 0) this.failed.delete(keyOf(target));
  }
}

function keyOf(t: DialTarget): string {
  return `${t.transport}:${t.host}:${t.port}`;
}
