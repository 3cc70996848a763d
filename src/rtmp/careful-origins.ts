// Which origin endpoints need the careful origin leg (BEHAVIOUR.md §4.5): those that answered createStream
// with a stream id other than 1, so that publish/play sent ahead on stream 1 would have named a stream they
// never created. One per RTMP listener; bounded in entries (least recently remembered dropped first) and in
// time, so a flood of distinct misbehaving origins costs a fixed amount of memory and an origin that was
// fixed gets the fast leg again.
import { TtlMap } from '../balancer/ttl-map.js';

/** Most endpoints remembered. */
export const CAREFUL_ORIGINS_MAX = 1024;
/** How long an endpoint stays careful after it last answered another id. */
export const CAREFUL_ORIGINS_TTL_MS = 10 * 60_000;

export interface CarefulOriginsOptions {
  max?: number;
  ttlMs?: number;
  now?: () => number;
}

export class CarefulOrigins {
  private readonly endpoints: TtlMap<string, true>;

  constructor(o: CarefulOriginsOptions = {}) {
    this.endpoints = new TtlMap(o.ttlMs ?? CAREFUL_ORIGINS_TTL_MS, o.max ?? CAREFUL_ORIGINS_MAX, o.now ?? Date.now);
  }

  /** Endpoints held (expired ones included until swept or displaced). */
  get size(): number {
    return this.endpoints.size;
  }

  /** Whether this endpoint needs the careful leg. Looking does not extend its time. */
  has(target: { host: string; port: number }): boolean {
    return this.endpoints.peek(endpointKey(target)) !== undefined;
  }

  /** The endpoint answered createStream with another id: careful for the next CAREFUL_ORIGINS_TTL_MS. */
  remember(target: { host: string; port: number }): void {
    this.endpoints.sweep();
    this.endpoints.set(endpointKey(target), true);
  }
}

function endpointKey(t: { host: string; port: number }): string {
  return `${t.host}|${t.port}`;
}
