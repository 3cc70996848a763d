// Per protocol and role: clients, bytes, refusals, drops and setup time, read from every service's
// stats() (the one ServiceStats shape) at scrape time.
import type { Registry } from 'prom-client';
import { SETUP_BUCKETS_S, SetupHistogram, type ProtocolStats, type ServiceStats } from '../net/service-stats.js';
import { histogramSamples, oncePerScrape, snapshotMetric, tokenLabel, type Sample } from './snapshot-metric.js';

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

function byReason(protocol: string, parts: ProtocolStats[], pick: (s: ProtocolStats) => Record<string, number>): Sample[] {
  const sums = new Map<string, number>();
  for (const p of parts) {
    for (const [reason, n] of Object.entries(pick(p))) {
      let label = tokenLabel(reason);
      if (!sums.has(label) && sums.size >= MAX_REASONS) label = 'other';
      sums.set(label, (sums.get(label) ?? 0) + n);
    }
  }
  return [...sums].map(([reason, value]) => ({ labels: { protocol, reason }, value }));
}

export function registerServiceMetrics(registry: Registry, services: () => Iterable<StatsSource>): void {
  // One read of every service per scrape, shared by the metrics below.
  const read = oncePerScrape(() => merged(services()));
  const each = (f: (protocol: string, parts: ProtocolStats[]) => Sample[]) => () => [...read()].flatMap(([p, parts]) => f(p, parts));
  const sum = (parts: ProtocolStats[], f: (s: ProtocolStats) => number) => parts.reduce((n, s) => n + f(s), 0);

  snapshotMetric(registry, {
    name: 'origin_proxy_clients_active',
    help: 'Client connections or sessions now, by protocol and role (pending: role or stream not known yet)',
    type: 'gauge',
    read: each((protocol, parts) =>
      (['publish', 'play', 'pending'] as const).map((role) => ({ labels: { protocol, role }, value: sum(parts, (s) => s.active[role]) })),
    ),
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_clients_total',
    help: 'Clients whose relay to an origin started, by protocol and role',
    type: 'counter',
    read: each((protocol, parts) => (['publish', 'play'] as const).map((role) => ({ labels: { protocol, role }, value: sum(parts, (s) => s.total[role]) }))),
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_client_bytes_total',
    help: 'Bytes received from (in) and sent to (out) clients, by protocol',
    type: 'counter',
    read: each((protocol, parts) =>
      (['in', 'out'] as const).map((direction) => ({ labels: { protocol, direction }, value: sum(parts, (s) => s.bytes[direction]) })),
    ),
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_client_refusals_total',
    help: 'Clients refused, by protocol and reason',
    type: 'counter',
    read: each((protocol, parts) => byReason(protocol, parts, (s) => s.refused)),
  });
  snapshotMetric(registry, {
    name: 'origin_proxy_dropped_total',
    help: 'Datagrams or messages dropped, by protocol and reason',
    type: 'counter',
    read: each((protocol, parts) => byReason(protocol, parts, (s) => s.dropped)),
  });
  // A protocol's 15 histogram samples change only when a client starts: reused while its count and sum
  // stand still (then the family's text is reused too).
  const setupSamples = new Map<string, { count: number; sum: number; samples: Sample[] }>();
  snapshotMetric(registry, {
    name: 'origin_proxy_client_setup_seconds',
    help: "Time from a client's arrival to its relay starting, by protocol",
    type: 'histogram',
    read: each((protocol, parts) => {
      const count = sum(parts, (s) => s.setup.count);
      const total = sum(parts, (s) => s.setup.sum);
      const held = setupSamples.get(protocol);
      if (held && held.count === count && held.sum === total) return held.samples;
      const cumulative = new Array<number>(SETUP_BUCKETS_S.length + 1).fill(0);
      for (const p of parts) p.setup.cumulative().forEach((c, i) => (cumulative[i]! += c));
      const samples = histogramSamples('origin_proxy_client_setup_seconds', { protocol }, SETUP_BUCKETS_S, cumulative, total, count);
      setupSamples.set(protocol, { count, sum: total, samples });
      return samples;
    }),
  });
}
