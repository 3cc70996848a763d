// Redis balancers on a real redis-server for unit tests: config through loadConfig (as the proxy
// builds it), a fake clock for origin liveness, an admin client to read and write raw keys.
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { parseRegistration, type Origin } from '../../src/balancer/origin.js';
import { RedisBalancer } from '../../src/balancer/redis.js';
import type { RedisServer } from '../fixtures/redis.js';
import { EXPIRE, type BalancerHarness, type HarnessOptions } from '../fixtures/balancer-contract.js';

export const PASSWORD = 'pw-for-tests';
export const DB = 3;

/** The RedisConfig the proxy would build from these PROXY_* variables. */
export function redisConfigFrom(env: Record<string, string>): RedisConfig {
  return loadConfig({ env: { PROXY_LOAD_BALANCER_TYPE: 'redis', ...env }, cwd: '/tmp', readDotenv: () => undefined, isDirectory: () => false }).config.redis;
}

export function configFor(redis: RedisServer, extra: Record<string, string> = {}): RedisConfig {
  return redisConfigFrom({ PROXY_REDIS_PORT: String(redis.port), PROXY_REDIS_PASSWORD: PASSWORD, PROXY_REDIS_DB: String(DB), ...extra });
}

export function adminClient(redis: RedisServer, db = DB): Redis {
  return new Redis({ port: redis.port, host: '127.0.0.1', password: PASSWORD, db, lazyConnect: false, maxRetriesPerRequest: 1 });
}

export const silentLog = createLogger({ level: 'silent', format: 'json' });

export interface RedisHarnessOptions extends HarnessOptions {
  sessionTtlMs?: number;
  clock?: { t: number };
}

/** A started RedisBalancer with a fake liveness clock; sessions use Redis' own (real) time. */
export async function redisBalancer(
  config: RedisConfig,
  opts: RedisHarnessOptions = {},
): Promise<{ b: RedisBalancer; clock: { t: number }; origin: (server: string, rtmp?: string, service?: string, pid?: string) => Origin }> {
  const clock = opts.clock ?? { t: 1_000_000 };
  let seq = 0;
  const b = new RedisBalancer({
    redis: config,
    originExpireMs: EXPIRE,
    sessionTtlMs: opts.sessionTtlMs ?? 1000,
    maxStreamPins: 1000,
    log: silentLog,
    now: () => clock.t,
    randomInt: opts.random ? (n) => Math.floor(opts.random!() * n) : (n) => seq++ % n,
  });
  await b.start();
  const origin = (server: string, rtmp = '1935', service = 'svc', pid = '1'): Origin =>
    parseRegistration({ ip: '127.0.0.1', server, service, pid, rtmp: [rtmp] }, clock.t);
  return { b, clock, origin };
}

/** The contract harness: a fresh (flushed) database per test, 1 s session TTL. */
export async function redisHarness(redis: RedisServer, opts: HarnessOptions = {}): Promise<BalancerHarness> {
  const flush = async () => {
    const admin = adminClient(redis);
    await admin.flushdb();
    await admin.quit();
  };
  return topologyHarness(() => configFor(redis), flush)(opts);
}

/** The contract harness for any topology: `flush` empties it, the balancer is built from `config`. */
export function topologyHarness(config: () => RedisConfig, flush: () => Promise<void>) {
  return async (opts: HarnessOptions = {}): Promise<BalancerHarness> => {
    await flush();
    const sessionTtlMs = 1000;
    const { b, clock, origin } = await redisBalancer(config(), { ...opts, sessionTtlMs });
    return {
      b,
      clock,
      origin,
      nearlyTtlMs: sessionTtlMs * 0.6,
      pastTtlMs: sessionTtlMs * 1.3,
      elapseSessions: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      sweep: () => undefined,
      close: () => b.close(),
    };
  };
}
