// The HLS/DASH origin client (docs/BEHAVIOUR.md §5.9): its connections and the requests waiting for one, over
// every origin endpoint. No endpoint label: origin addresses come and go, and the labels must stay bounded.
import type { Registry } from 'prom-client';
import type { OriginClientStats } from '../net/origin-client.js';
import { oncePerScrape } from './snapshot-metric.js';
import { SeriesSet, textMetric } from './text-metric.js';

export interface OriginClientStatsSource {
  stats(): OriginClientStats;
}

export function registerOriginClientMetrics(registry: Registry, client: OriginClientStatsSource): void {
  const read = oncePerScrape(() => client.stats());
  const connections = new SeriesSet('origin_proxy_origin_connections', ['state']);
  textMetric(registry, {
    name: 'origin_proxy_origin_connections',
    help: 'Connections of the HLS/DASH origin client, by state (busy: a request on it or being dialled; idle: kept alive)',
    type: 'gauge',
    collect: (out) => {
      const s = read();
      out.add(connections.get('', 'busy'), s.open - s.idle);
      out.add(connections.get('', 'idle'), s.idle);
    },
  });
  const waiting = new SeriesSet('origin_proxy_origin_requests_waiting');
  textMetric(registry, {
    name: 'origin_proxy_origin_requests_waiting',
    help: 'HLS/DASH requests waiting for a connection of the origin client (every pooled connection of their origin busy)',
    type: 'gauge',
    collect: (out) => out.add(waiting.get(), read().waiting),
  });
}
