// Routing and the cluster view: dial outcomes, dial failures and live relays per origin, origins by
// state, pins and session records. Origin server ids are the only per-origin label; they are bounded
// by PROXY_MAX_ORIGINS (a registration beyond it is refused).
import type { Registry } from 'prom-client';
import type { Balancer, OriginView } from '../balancer/balancer.js';
import type { HealthState } from '../routing/health.js';
import type { Origin } from '../balancer/origin.js';
import type { DialCounts } from '../routing/types.js';
import { oncePerScrape, snapshotMetric, type Sample } from './snapshot-metric.js';
import { SeriesSet, textMetric } from './text-metric.js';

export interface RoutingSources {
  balancer: Balancer;
  /** Dial outcomes, and failed dials per origin server id (only origins still registered). */
  dials: () => DialCounts;
  dialFailures: (registered: ReadonlySet<string>) => ReadonlyMap<string, number>;
  /** Live relays per origin server id. */
  relays: () => ReadonlyMap<string, number>;
  /** An origin's state as routing sees it (suspect: up, but its last probe failed). */
  stateOf: (origin: Origin) => HealthState;
}

const STATES: readonly HealthState[] = ['up', 'suspect', 'draining', 'down'];

export function registerRoutingMetrics(registry: Registry, src: RoutingSources): void {
  // The origin list is read once per scrape (one Redis round trip in Redis mode), shared below.
  // Unreadable (Redis away): the origin series are left out rather than shown as zero.
  const origins = oncePerScrape(() => src.balancer.origins().catch((): OriginView[] | undefined => undefined));

  // The synchronous ones write their own text (text-metric.ts); those waiting for the origin list stay samples.
  const dials = new SeriesSet('origin_proxy_dials_total', ['outcome']);
  textMetric(registry, {
    name: 'origin_proxy_dials_total',
    help: 'Dials to origin endpoints by outcome (skipped: dial budget spent; refused: address policy)',
    type: 'counter',
    collect: (out) => {
      const counts = src.dials();
      for (const outcome in counts) out.add(dials.get('', outcome), counts[outcome as keyof DialCounts]);
    },
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_origin_dial_failures_total',
    help: 'Failed dials to an origin, by origin server id (registered origins only)',
    type: 'counter',
    read: async () => {
      const views = await origins();
      if (!views) return [];
      const registered = new Set(views.map((v) => v.origin.serverId));
      return [...src.dialFailures(registered)].map(([server, value]) => ({ labels: { server }, value }));
    },
  });
  const relays = new SeriesSet('origin_proxy_origin_relays', ['server']);
  textMetric(registry, {
    name: 'origin_proxy_origin_relays',
    help: 'Live relays to an origin, by origin server id',
    type: 'gauge',
    collect: (out) => {
      for (const [server, value] of src.relays()) out.add(relays.get('', server), value);
    },
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_origins',
    help: 'Registered origins by state (up, suspect, draining, down)',
    type: 'gauge',
    read: async () => {
      const views = await origins();
      if (!views) return [];
      const counts = new Map<HealthState, number>(STATES.map((s) => [s, 0]));
      for (const v of views) {
        const s = src.stateOf(v.origin);
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      return [...counts].map(([state, value]): Sample => ({ labels: { state }, value }));
    },
  });
  const records = (name: string, help: string, pick: 'pins' | 'hlsSessions' | 'rtcSessions') => {
    const series = new SeriesSet(name).get();
    textMetric(registry, {
      name,
      help,
      type: 'gauge',
      collect: (out) => {
        const counts = src.balancer.recordCounts?.();
        if (counts) out.add(series, counts[pick]);
      },
    });
  };
  records('origin_proxy_stream_pins', 'Stream pins (stream to origin) the balancer holds (Redis: counted every few seconds)', 'pins');
  records('origin_proxy_hls_sessions', 'HLS session records (Redis: counted every few seconds)', 'hlsSessions');
  records('origin_proxy_webrtc_sessions', 'WebRTC session records (Redis: counted every few seconds)', 'rtcSessions');
}
