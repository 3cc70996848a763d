// How worker 0 sums the workers' answers into the whole proxy's (docs/BEHAVIOUR.md §8.5). Pure
// functions over plain data; the rules:
//   counters and gauges of clients, bytes, refusals, drops, dials, setup buckets: summed
//   `largest…` fields (the largest backlog of one socket): the largest of the workers'
//   a stream's publisher: the oldest of the workers'
//   clients: listed worker by worker (slot order), oldest first within a worker
//   metrics: prom-client's cluster aggregation (each metric's own aggregator; ours sum), except the
//            shared-state gauges below, which every worker reads from the one balancer: worker 0's
import { AggregatorRegistry } from '../metrics/prom-client.js';
import type { PublisherJson } from '../api/proxy-view.js';
import { addTally, type StreamTally } from '../api/stream-summary.js';

/** Streams listed in `detail.edge.skipsByStream` (as one process keeps). */
const MAX_SKIPS_BY_STREAM = 100;

/**
 * Metrics every worker reads from shared state (the primary's balancer, the origins' registrations):
 * summing them would count the same pins and origins once per worker.
 */
export const SHARED_METRICS: ReadonlySet<string> = new Set([
  'origin_proxy_origins',
  'origin_proxy_stream_pins',
  'origin_proxy_hls_sessions',
  'origin_proxy_webrtc_sessions',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The sum of several `GET /api/v1/stats` bodies (see the rules above). */
export function mergeStats(parts: readonly Record<string, unknown>[]): Record<string, unknown> {
  let out: Json = {};
  for (const p of parts) out = mergeValue(out, p as Json, '');
  const merged = out as Record<string, unknown>;
  const edge = (merged.detail as { edge?: { skipsByStream?: Record<string, number> } } | undefined)?.edge;
  if (edge?.skipsByStream) edge.skipsByStream = topEntries(edge.skipsByStream, MAX_SKIPS_BY_STREAM);
  return merged;
}

function mergeValue(a: Json | undefined, b: Json | undefined, key: string): Json {
  if (a === undefined) return clone(b ?? null);
  if (b === undefined) return a;
  if (typeof a === 'number' && typeof b === 'number') return key.startsWith('largest') ? Math.max(a, b) : a + b;
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    return Array.from({ length: n }, (_, i) => mergeValue(a[i], b[i], key));
  }
  if (isObject(a) && isObject(b)) {
    const out: { [key: string]: Json } = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = mergeValue(a[k], v, k);
    return out;
  }
  return a; // text and mismatched shapes: the first worker's
}

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone(v: Json): Json {
  return typeof v === 'object' && v !== null ? (JSON.parse(JSON.stringify(v)) as Json) : v;
}

function topEntries(record: Record<string, number>, n: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record)
      .sort((x, y) => y[1] - x[1])
      .slice(0, n),
  );
}

/** One worker's streams answer, as data. */
export interface WorkerStreams {
  tallies: [string, StreamTally][];
  publishers: [string, PublisherJson][];
}

/** The workers' tallies summed per stream, and each stream's oldest publisher. */
export function mergeStreams(parts: readonly WorkerStreams[]): { tallies: Map<string, StreamTally>; publishers: Map<string, PublisherJson> } {
  const tallies = new Map<string, StreamTally>();
  const publishers = new Map<string, PublisherJson>();
  for (const p of parts) {
    for (const [key, t] of p.tallies) addTally(tallies, key, t);
    for (const [key, pub] of p.publishers) {
      const known = publishers.get(key);
      if (!known || Date.parse(pub.since) < Date.parse(known.since)) publishers.set(key, pub);
    }
  }
  return { tallies, publishers };
}

/**
 * Which part of each worker's client list a page covers, the workers' lists laid end to end in slot
 * order: `totals` are the workers' counts; returns the slices to read (empty ones left out).
 */
export function clientWindows(totals: readonly { w: number; total: number }[], offset: number, limit: number): { w: number; offset: number; limit: number }[] {
  const out: { w: number; offset: number; limit: number }[] = [];
  let start = 0;
  let want = limit;
  for (const { w, total } of [...totals].sort((a, b) => a.w - b.w)) {
    const end = start + total;
    if (want > 0 && offset < end) {
      const from = Math.max(0, offset - start);
      const n = Math.min(total - from, want);
      if (n > 0) {
        out.push({ w, offset: from, limit: n });
        want -= n;
      }
    }
    start = end;
  }
  return out;
}

const AGGREGATORS: ReadonlySet<string> = new Set(['omit', 'sum', 'first', 'min', 'max', 'average']);

/** One metric of one worker, as prom-client's Registry.getMetricsAsJSON() gives it. */
export interface MetricJson {
  name: string;
  aggregator?: string;
  [field: string]: unknown;
}

/** The workers' metrics (in slot order) as one exposition: summed, shared-state gauges taken from the first. */
export async function mergeMetrics(parts: readonly MetricJson[][]): Promise<{ text: string; contentType: string }> {
  const adjusted = parts.map((list) =>
    list.map((m) => ({
      ...m,
      aggregator: SHARED_METRICS.has(m.name) ? 'first' : AGGREGATORS.has(m.aggregator ?? '') ? m.aggregator : 'sum',
      // prom-client groups samples by their labels and needs an object (ours may have none).
      values: (Array.isArray(m.values) ? (m.values as { labels?: unknown }[]) : []).map((v) => ({ ...v, labels: v.labels ?? {} })),
    })),
  );
  const registry = AggregatorRegistry.aggregate(adjusted);
  return { text: await registry.metrics(), contentType: registry.contentType };
}
