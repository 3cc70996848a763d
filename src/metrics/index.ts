// The proxy's Prometheus metrics: one Registry per proxy (never prom-client's global one), filled
// at scrape time from state the proxy already keeps, served as `GET /metrics` on the system API and,
// when PROXY_METRICS_LISTEN is set, on a listener of its own.
import { Counter, Registry } from './prom-client.js';
import { registerProcessMetrics } from './process-metrics.js';
import type { EdgeStats } from '../edge/types.js';
import { snapshotMetric } from './snapshot-metric.js';
import { Exposition } from './exposition.js';
import type { RegisterOutcome } from '../api/system-api.js';
import type { Balancer } from '../balancer/balancer.js';
import type { RedisClient } from '../balancer/redis-connection.js';
import { redisClientOf } from '../health/index.js';
import type { OriginHealth } from '../routing/health.js';
import type { Router } from '../routing/router.js';
import type { Route, RouteContext } from '../net/router.js';
import { metricsRoute } from '../api/metrics-route.js';
import { registerRoutingMetrics, type RoutingSources } from './routing-metrics.js';
import { registerServiceMetrics, statsSources, type StatsSource } from './service-metrics.js';
import { instrumentRedis } from './redis-metrics.js';
import { registerCacheMetrics, type CacheStatsSource } from './cache-metrics.js';
import { registerOriginClientMetrics, type OriginClientStatsSource } from './origin-client-metrics.js';

export type { StatsSource } from './service-metrics.js';

/**
 * prom-client default metrics left out of process-metrics.ts: each scrape of these walks every open descriptor
 * or handle (with 18,000 sockets they took ~95 ms of CPU per scrape together); the client gauges count connections.
 */
export const COSTLY_DEFAULT_METRICS = [
  'process_open_fds',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
] as const;
export type { RoutingSources } from './routing-metrics.js';

export interface MetricsDeps extends RoutingSources {
  /** Every protocol service's stats, each source once. */
  services: () => Iterable<StatsSource>;
  /** The Redis client to time (Redis balancer only). */
  redis?: RedisClient | undefined;
  /** Process and event-loop metrics (prom-client's default names and meaning, process-metrics.ts); default on. */
  processMetrics?: boolean;
  /** Edge mode's counts (PROXY_EDGE=on); undefined: no edge series. */
  edge?: (() => EdgeStats) | undefined;
  /** The HLS/DASH edge cache, when on. */
  hlsCache?: CacheStatsSource | undefined;
  /** The HLS/DASH origin client (connections, requests waiting). */
  originClient?: OriginClientStatsSource | undefined;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly page = new Exposition(this.registry);
  private readonly registers: Counter<'result'>;

  constructor(deps: MetricsDeps) {
    if (deps.processMetrics !== false) registerProcessMetrics(this.registry);
    registerServiceMetrics(this.registry, deps.services);
    registerRoutingMetrics(this.registry, deps);
    if (deps.redis) instrumentRedis(this.registry, deps.redis);
    if (deps.edge) registerEdgeMetrics(this.registry, deps.edge);
    if (deps.hlsCache) registerCacheMetrics(this.registry, deps.hlsCache);
    if (deps.originClient) registerOriginClientMetrics(this.registry, deps.originClient);
    this.registers = new Counter({
      name: 'origin_proxy_register_calls_total',
      help: 'Origin register (heartbeat) calls by result',
      labelNames: ['result'],
      registers: [this.registry],
    });
  }

  /** Counts one register call (the system API calls this once per call). */
  noteRegister(outcome: RegisterOutcome): void {
    this.registers.inc({ result: outcome });
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.page.text(), contentType: this.registry.contentType };
  }

  /** The page as the bytes `GET /metrics` sends. */
  async body(): Promise<{ body: Buffer; contentType: string }> {
    return { body: await this.page.page(), contentType: this.registry.contentType };
  }

  /** `GET /metrics`; `authorize` throws (401) when a token is required and missing. */
  route(authorize: (ctx: RouteContext) => void = () => undefined): Route {
    return metricsRoute(() => this.body(), authorize);
  }
}

/** Edge mode's streams, upstreams, players per protocol, cache bytes and player skips (read at scrape time). */
function registerEdgeMetrics(registry: Registry, read: () => EdgeStats): void {
  const gauge = (name: string, help: string, value: (s: EdgeStats) => number) =>
    snapshotMetric(registry, { name, help, type: 'gauge', read: () => [{ labels: {}, value: value(read()) }] });
  gauge('origin_proxy_edge_streams', 'Edge streams (shared upstreams opening, live or lingering)', (s) => s.hubs);
  gauge('origin_proxy_edge_upstreams', 'Live edge upstream play sessions to origins', (s) => s.upstreams);
  gauge('origin_proxy_edge_cache_bytes', 'Bytes held by the edge GOP caches', (s) => s.cacheBytes);
  snapshotMetric(registry, {
    name: 'origin_proxy_edge_players',
    help: 'Players attached to edge streams, by protocol',
    type: 'gauge',
    read: () => {
      const s = read();
      return [
        { labels: { protocol: 'rtmp' }, value: s.players.rtmp },
        { labels: { protocol: 'flv' }, value: s.players.flv },
      ];
    },
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_edge_player_skips_total',
    help: 'Times an edge player fell behind and skipped to a keyframe',
    type: 'counter',
    read: () => [{ labels: {}, value: read().skips }],
  });
}

/** What the composition root hands over: its balancer, router, health and listeners. */
export interface ProxyParts {
  balancer: Balancer;
  router: Pick<Router, 'stats' | 'dialFailuresByOrigin' | 'relays'>;
  health: Pick<OriginHealth, 'state'>;
  /** The running services; those whose stats() has the ServiceStats shape are exported. */
  services: () => Iterable<object>;
  now?: (() => number) | undefined;
  processMetrics?: boolean;
  edge?: (() => EdgeStats) | undefined;
  hlsCache?: CacheStatsSource | undefined;
  originClient?: OriginClientStatsSource | undefined;
}

/** The metrics of a whole proxy. */
export function proxyMetrics(parts: ProxyParts): ProxyMetrics {
  const now = parts.now ?? Date.now;
  return new ProxyMetrics({
    services: () => statsSources(parts.services()),
    balancer: parts.balancer,
    dials: () => parts.router.stats().dials,
    dialFailures: (registered) => parts.router.dialFailuresByOrigin(registered),
    relays: () => parts.router.relays.counts(),
    stateOf: (origin) => parts.health.state(origin, now()),
    redis: redisClientOf(parts.balancer),
    hlsCache: parts.hlsCache,
    originClient: parts.originClient,
    ...(parts.processMetrics === undefined ? {} : { processMetrics: parts.processMetrics }),
    edge: parts.edge,
  });
}
