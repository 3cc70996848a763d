// Builds the health monitor for a proxy: probes per the config, shared through Redis when the
// balancer is the Redis one (its connection reused), otherwise kept in this process.
import type { Balancer } from '../balancer/balancer.js';
import type { RedisClient } from '../balancer/redis-connection.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { HealthMonitor, type RelayControl } from './monitor.js';
import { netProbeDialer, type ProbeDialer } from './probe-dialer.js';
import { RedisHealthShare } from './redis-share.js';
import { LocalHealthShare, type HealthShare } from './shared.js';

export interface OriginHealthDeps {
  config: Config;
  balancer: Balancer;
  log: Logger;
  relays?: RelayControl;
  now?: () => number;
  dialer?: ProbeDialer;
  /** False: this process runs no probes and learns verdicts from the share (worker processes other than worker 0). */
  probe?: boolean;
  /** Where health is shared (worker processes: through the primary); default by balancer kind. */
  share?: HealthShare | undefined;
}

/** The Redis connection of a Redis balancer (health keys live next to the balancer's). */
export function redisClientOf(balancer: Balancer): RedisClient | undefined {
  if (balancer.kind !== 'redis') return undefined;
  const client = (balancer as Balancer & { client?: RedisClient }).client;
  return client;
}

export function createOriginHealth(deps: OriginHealthDeps): HealthMonitor {
  const { config } = deps;
  const client = redisClientOf(deps.balancer);
  const interval = config.health.intervalMs;
  const share: HealthShare = deps.share
    ? deps.share
    : client
      ? new RedisHealthShare({
          client,
          verdictTtlMs: Math.max(2000, 2 * interval + 1000),
          loadTtlMs: config.originExpireMs,
          ...(deps.now ? { now: deps.now } : {}),
        })
      : new LocalHealthShare();
  return new HealthMonitor({
    balancer: deps.balancer,
    intervalMs: deps.probe === false ? 0 : interval,
    // Without probes of its own, it still reads the shared verdicts as often as a prober would.
    ...(deps.probe === false && interval > 0 ? { syncMs: Math.max(50, Math.min(500, interval)) } : {}),
    fails: config.health.fails,
    originExpireMs: config.originExpireMs,
    dialer: deps.dialer ?? netProbeDialer,
    share,
    log: deps.log,
    ...(deps.relays ? { relays: deps.relays } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
}

export type { OriginState, OriginStatus, RelayControl } from './monitor.js';
export { HealthMonitor } from './monitor.js';
