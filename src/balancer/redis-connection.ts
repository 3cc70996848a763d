// The ioredis client for the Redis balancer: standalone (host/port or URL, optional TLS and ACL user),
// Sentinel or Cluster, tuned to fail fast: no offline queue (a command while disconnected fails at
// once), a deadline per command, no re-sending after a dropped connection, reconnection forever.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';

export type RedisClient = Redis | Cluster;

/** Reconnect backoff: 100 ms doubling up to 2 s, forever (Redis trouble never stops the proxy). */
export function reconnectDelay(attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
}

/** A client that connects only when `connect()` is called (the balancer's start). */
export function createRedisClient(cfg: RedisConfig): RedisClient {
  // ioredis (~40 modules, several MB) is loaded only by a proxy that uses Redis.
  const { Cluster, Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const common: RedisOptions = {
    username: cfg.username,
    password: cfg.password === '' ? undefined : cfg.password,
    connectTimeout: Math.max(cfg.timeoutMs, 1000),
    commandTimeout: cfg.timeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: 'origin-proxy',
    keepAlive: 10_000,
    // SNI carries host names only (RFC 6066); an IP address is verified against the certificate's IP SANs.
    ...(cfg.tls ? { tls: isIP(cfg.host) ? {} : { servername: cfg.host } } : {}),
  };
  if (cfg.clusterNodes) {
    return new Cluster(cfg.clusterNodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: Math.max(cfg.timeoutMs, 1000),
      redisOptions: common,
    });
  }
  const shared: RedisOptions = {
    ...common,
    db: cfg.db,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    retryStrategy: reconnectDelay,
  };
  if (cfg.sentinels) {
    return new Redis({ ...shared, sentinels: cfg.sentinels, name: cfg.sentinelName, sentinelRetryStrategy: reconnectDelay });
  }
  return new Redis({ ...shared, host: cfg.host, port: cfg.port });
}

/** The variable(s) and value that named the Redis server, for error messages (never a password). */
export function redisTarget(cfg: RedisConfig): { variable: string; value: string } {
  const list = (nodes: { host: string; port: number }[]) =>
    nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
  const hostPort = list([{ host: cfg.host, port: cfg.port }]);
  switch (cfg.source) {
    case 'PROXY_REDIS_URL':
      return { variable: 'PROXY_REDIS_URL', value: `${cfg.tls ? 'rediss' : 'redis'}://${cfg.username ? `${cfg.username}@` : ''}${hostPort}/${cfg.db}` };
    case 'PROXY_REDIS_SENTINELS':
      return { variable: 'PROXY_REDIS_SENTINELS', value: `${list(cfg.sentinels ?? [])} (master ${cfg.sentinelName})` };
    case 'PROXY_REDIS_CLUSTER_NODES':
      return { variable: 'PROXY_REDIS_CLUSTER_NODES', value: list(cfg.clusterNodes ?? []) };
    default:
      return { variable: 'PROXY_REDIS_HOST/PROXY_REDIS_PORT', value: hostPort };
  }
}
