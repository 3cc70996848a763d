// The HLS/DASH edge cache: what it holds and how requests were answered (hit, coalesced, miss).
import type { Registry } from 'prom-client';
import type { HlsCacheStats } from '../http/hls-cache.js';
import { oncePerScrape, snapshotMetric } from './snapshot-metric.js';

export interface CacheStatsSource {
  stats(): HlsCacheStats;
}

export function registerCacheMetrics(registry: Registry, cache: CacheStatsSource): void {
  const read = oncePerScrape(() => cache.stats());
  snapshotMetric(registry, {
    name: 'origin_proxy_hls_cache_bytes',
    help: 'Bytes in the HLS/DASH edge cache: answers kept (stored) and bodies being read to fill it (filling)',
    type: 'gauge',
    read: () => [
      { labels: { kind: 'stored' }, value: read().bytes },
      { labels: { kind: 'filling' }, value: read().filling },
    ],
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_hls_cache_entries',
    help: 'Answers (playlists, manifests, segments) kept in the HLS/DASH edge cache',
    type: 'gauge',
    read: () => [{ value: read().entries }],
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_hls_cache_requests_total',
    help: 'Requests the HLS/DASH edge cache answered, by result (hit: stored answer; coalesced: shared an origin fetch under way; miss: fetched)',
    type: 'counter',
    read: () => {
      const s = read();
      return [
        { labels: { result: 'hit' }, value: s.hits },
        { labels: { result: 'coalesced' }, value: s.coalesced },
        { labels: { result: 'miss' }, value: s.misses },
      ];
    },
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_hls_cache_waiting',
    help: 'Requests now waiting for an origin fetch of the same answer that another request started',
    type: 'gauge',
    read: () => [{ value: read().waiting }],
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_hls_cache_evictions_total',
    help: 'Answers evicted from the HLS/DASH edge cache to stay within PROXY_HLS_CACHE_MAX or its entry count',
    type: 'counter',
    read: () => [{ value: read().evictions }],
  });
}
