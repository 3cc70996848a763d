// `GET /healthz` (liveness: the process answers and its event loop keeps up) and `GET /readyz`
// (readiness: every listener bound, the balancer usable, not shutting down) on the system API.
// Load balancers and orchestrators probe these without credentials, so the answers name causes
// only: no addresses, no origin records, no secrets.
import { sendJson } from '../net/http-util.js';
import type { Route } from '../net/router.js';

/** Above this event-loop delay (p99 over the last window) the process counts as unresponsive. */
export const LOOP_DELAY_LIMIT_MS = 1000;

export interface BalancerReadiness {
  /** New streams can be routed (Redis connected, or its fallback cache serves reads). */
  usable: boolean;
  /** What routing runs on: `memory`, `redis`, or `redis-fallback` while Redis is away. */
  mode: 'memory' | 'redis' | 'redis-fallback';
  /** Why it is not usable (ioredis connection state only: never an address). */
  detail?: string;
}

export interface ReadinessState {
  /** PROXY_* variables of listeners that are not bound (yet). */
  unbound: readonly string[];
  balancer: BalancerReadiness;
  /** A shutdown signal arrived: existing connections drain, new clients go elsewhere. */
  draining: boolean;
}

export type ProbeVerdict =
  { status: 200; body: Record<string, unknown> } | { status: 503; body: { code: 503; error: string; reason: string } & Record<string, unknown> };

export interface HealthDeps {
  /** Current event-loop delay in ms (EventLoopMonitor.delayMs in production). */
  loopDelayMs: () => number;
  loopDelayLimitMs?: number;
  readiness: () => ReadinessState;
}

/** Liveness: only the event loop's responsiveness counts (Redis or origins being away is no reason to restart). */
export function liveness(delayMs: number, limitMs = LOOP_DELAY_LIMIT_MS): ProbeVerdict {
  const rounded = Math.round(delayMs);
  if (delayMs > limitMs) {
    return {
      status: 503,
      body: { code: 503, error: `event loop delay ${rounded} ms is above ${limitMs} ms`, reason: 'event-loop-delay', eventLoopDelayMs: rounded },
    };
  }
  return { status: 200, body: { code: 0, status: 'alive', eventLoopDelayMs: rounded } };
}

/** Readiness: draining first (it is the answer a load balancer must see at once), then listeners, then the balancer. */
export function readiness(state: ReadinessState): ProbeVerdict {
  if (state.draining) return { status: 503, body: { code: 503, error: 'shutting down: draining existing connections', reason: 'draining' } };
  if (state.unbound.length > 0) {
    return { status: 503, body: { code: 503, error: `listeners not bound: ${state.unbound.join(', ')}`, reason: 'listeners', unbound: [...state.unbound] } };
  }
  if (!state.balancer.usable) {
    return {
      status: 503,
      body: { code: 503, error: `load balancer unusable: ${state.balancer.detail ?? 'unavailable'}`, reason: 'balancer', balancer: state.balancer.mode },
    };
  }
  return { status: 200, body: { code: 0, status: 'ready', balancer: state.balancer.mode } };
}

/**
 * The balancer's part of readiness. `redisStatus` is the ioredis connection status (undefined for
 * the memory balancer); with the fallback cache on, a lost Redis still leaves routing usable.
 */
export function balancerReadiness(redisStatus: string | undefined, fallbackOn: boolean): BalancerReadiness {
  if (redisStatus === undefined) return { usable: true, mode: 'memory' };
  if (redisStatus === 'ready') return { usable: true, mode: 'redis' };
  if (fallbackOn) return { usable: true, mode: 'redis-fallback' };
  return { usable: false, mode: 'redis', detail: `Redis is not connected (${redisStatus})` };
}

export function healthRoutes(deps: HealthDeps): Route[] {
  const send = (res: Parameters<typeof sendJson>[0], v: ProbeVerdict) => sendJson(res, v.status, v.body, { 'Cache-Control': 'no-store' });
  return [
    { path: '/healthz', methods: { GET: ({ res }) => send(res, liveness(deps.loopDelayMs(), deps.loopDelayLimitMs)) } },
    { path: '/readyz', methods: { GET: ({ res }) => send(res, readiness(deps.readiness())) } },
  ];
}
