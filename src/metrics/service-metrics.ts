// Per protocol and role: clients, bytes, refusals, drops and setup time, read from every service's
// stats() (the one ServiceStats shape) at scrape time, written as text blocks (text-metric.ts).
import type { Registry } from 'prom-client';
import { SETUP_BUCKETS_S, SetupHistogram, type ProtocolStats, type ServiceStats } from '../net/service-stats.js';
import { oncePerScrape, tokenLabel } from './snapshot-metric.js';
import { SeriesSet, textMetric, type SeriesSink } from './text-metric.js';

/** Anything that reports ServiceStats (each protocol service). */
export interface StatsSource {
  stats(): ServiceStats;
}

/** The services that have a stats() (merged() skips entries that are not ProtocolStats). */
export function statsSources(services: Iterable<object>): StatsSource[] {
  return [...services].filter((s): s is StatsSource => typeof (s as { stats?: unknown }).stats === 'function');
}

/** Distinct reasons kept per protocol and metric; more are summed under `other` (labels stay bounded). */
export const MAX_REASONS = 32;

/**
 * Every source's protocols; one protocol reported by several sources is summed. An entry without a
 * SetupHistogram is not ProtocolStats (a service still reporting another shape) and is left out.
 */
function merged(sources: Iterable<StatsSource>): Map<string, ProtocolStats[]> {
  const out = new Map<string, ProtocolStats[]>();
  for (const source of sources) {
    for (const [protocol, stats] of Object.entries(source.stats())) {
      if (!((stats as Partial<ProtocolStats> | undefined)?.setup instanceof SetupHistogram)) continue;
      const label = tokenLabel(protocol);
      const list = out.get(label);
      if (list) list.push(stats);
      else out.set(label, [stats]);
    }
  }
  return out;
}

const ROLES = ['publish', 'play'] as const;
const ACTIVE_ROLES = ['publish', 'play', 'pending'] as const;
const DIRECTIONS = ['in', 'out'] as const;
/** The setup histogram's `le` label values, '+Inf' last. */
const SETUP_LE = [...SETUP_BUCKETS_S.map(String), '+Inf'];

/**
 * One sample per reason of a protocol, summed over its parts; at most MAX_REASONS distinct labels, more summed
 * under `other`. `sums` is reused from scrape to scrape.
 */
function addByReason(
  out: SeriesSink,
  series: SeriesSet,
  protocol: string,
  parts: ProtocolStats[],
  pick: (s: ProtocolStats) => Record<string, number>,
  sums: Map<string, number>,
): void {
  sums.clear();
  for (const p of parts) {
    const counts = pick(p);
    for (const reason in counts) {
      let label = tokenLabel(reason);
      if (!sums.has(label) && sums.size >= MAX_REASONS) label = 'other';
      sums.set(label, (sums.get(label) ?? 0) + counts[reason]!);
    }
  }
  sums.forEach((value, reason) => out.add(series.get('', protocol, reason), value));
}

export function registerServiceMetrics(registry: Registry, services: () => Iterable<StatsSource>): void {
  // One read of every service per scrape, shared by the metrics below.
  const read = oncePerScrape(() => merged(services()));
  const metric = (name: string, help: string, type: 'gauge' | 'counter', labelNames: string[], collect: (out: SeriesSink, series: SeriesSet) => void) => {
    const series = new SeriesSet(name, labelNames);
    textMetric(registry, { name, help, type, collect: (out) => collect(out, series) });
  };

  metric(
    'origin_proxy_clients_active',
    'Client connections or sessions now, by protocol and role (pending: role or stream not known yet)',
    'gauge',
    ['protocol', 'role'],
    (out, series) => {
      read().forEach((parts, protocol) => {
        for (const role of ACTIVE_ROLES) {
          let n = 0;
          for (const p of parts) n += p.active[role];
          out.add(series.get('', protocol, role), n);
        }
      });
    },
  );
  metric('origin_proxy_clients_total', 'Clients whose relay to an origin started, by protocol and role', 'counter', ['protocol', 'role'], (out, series) => {
    read().forEach((parts, protocol) => {
      for (const role of ROLES) {
        let n = 0;
        for (const p of parts) n += p.total[role];
        out.add(series.get('', protocol, role), n);
      }
    });
  });
  metric(
    'origin_proxy_client_bytes_total',
    'Bytes received from (in) and sent to (out) clients, by protocol',
    'counter',
    ['protocol', 'direction'],
    (out, series) => {
      read().forEach((parts, protocol) => {
        for (const direction of DIRECTIONS) {
          let n = 0;
          for (const p of parts) n += p.bytes[direction];
          out.add(series.get('', protocol, direction), n);
        }
      });
    },
  );
  const refusedSums = new Map<string, number>();
  metric('origin_proxy_client_refusals_total', 'Clients refused, by protocol and reason', 'counter', ['protocol', 'reason'], (out, series) => {
    read().forEach((parts, protocol) => addByReason(out, series, protocol, parts, (s) => s.refused, refusedSums));
  });
  const droppedSums = new Map<string, number>();
  metric('origin_proxy_dropped_total', 'Datagrams or messages dropped, by protocol and reason', 'counter', ['protocol', 'reason'], (out, series) => {
    read().forEach((parts, protocol) => addByReason(out, series, protocol, parts, (s) => s.dropped, droppedSums));
  });
  const setup = new SeriesSet('origin_proxy_client_setup_seconds', ['protocol', 'le']);
  const cumulative = new Array<number>(SETUP_LE.length).fill(0);
  textMetric(registry, {
    name: 'origin_proxy_client_setup_seconds',
    help: "Time from a client's arrival to its relay starting, by protocol",
    type: 'histogram',
    collect: (out) => {
      read().forEach((parts, protocol) => {
        cumulative.fill(0);
        let sum = 0;
        let count = 0;
        for (const p of parts) {
          let running = 0;
          for (let i = 0; i < p.setup.counts.length; i++) cumulative[i]! += running += p.setup.counts[i]!;
          sum += p.setup.sum;
          count += p.setup.count;
        }
        for (let i = 0; i < SETUP_LE.length; i++) out.add(setup.get('_bucket', protocol, SETUP_LE[i]), cumulative[i]!);
        out.add(setup.get('_sum', protocol), sum);
        out.add(setup.get('_count', protocol), count);
      });
    },
  });
}
