// The HLS/DASH edge cache: what it holds and how requests were answered (hit, coalesced, miss).
import type { Registry } from 'prom-client';
import type { HlsCacheStats } from '../http/hls-cache.js';
import { oncePerScrape } from './snapshot-metric.js';
import { SeriesSet, textMetric, type SeriesSink } from './text-metric.js';

export interface CacheStatsSource {
  stats(): HlsCacheStats;
}

export function registerCacheMetrics(registry: Registry, cache: CacheStatsSource): void {
  const read = oncePerScrape(() => cache.stats());
  const metric = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    labelName: string | undefined,
    collect: (out: SeriesSink, series: SeriesSet, s: HlsCacheStats) => void,
  ) => {
    const series = new SeriesSet(name, labelName ? [labelName] : []);
    textMetric(registry, { name, help, type, collect: (out) => collect(out, series, read()) });
  };
  metric(
    'origin_proxy_hls_cache_bytes',
    'Bytes in the HLS/DASH edge cache: answers kept (stored) and bodies being read to fill it (filling)',
    'gauge',
    'kind',
    (out, series, s) => {
      out.add(series.get('', 'stored'), s.bytes);
      out.add(series.get('', 'filling'), s.filling);
    },
  );
  metric('origin_proxy_hls_cache_entries', 'Answers (playlists, manifests, segments) kept in the HLS/DASH edge cache', 'gauge', undefined, (out, series, s) =>
    out.add(series.get(), s.entries),
  );
  metric(
    'origin_proxy_hls_cache_requests_total',
    'Requests the HLS/DASH edge cache answered, by result (hit: stored answer; coalesced: shared an origin fetch under way; miss: fetched)',
    'counter',
    'result',
    (out, series, s) => {
      out.add(series.get('', 'hit'), s.hits);
      out.add(series.get('', 'coalesced'), s.coalesced);
      out.add(series.get('', 'miss'), s.misses);
    },
  );
  metric(
    'origin_proxy_hls_cache_waiting',
    'Requests now waiting for an origin fetch of the same answer that another request started',
    'gauge',
    undefined,
    (out, series, s) => out.add(series.get(), s.waiting),
  );
  metric(
    'origin_proxy_hls_cache_evictions_total',
    'Answers evicted from the HLS/DASH edge cache to stay within PROXY_HLS_CACHE_MAX or its entry count',
    'counter',
    undefined,
    (out, series, s) => out.add(series.get(), s.evictions),
  );
}
