// A prom-client metric whose samples are read from existing state when scraped. prom-client's own
// Gauge/Counter/Histogram keep values they are told; these read counters the proxy already keeps
// (service stats, router, balancer), so nothing is added to the per-packet or per-message path and
// a histogram whose buckets are counted elsewhere is exposed as a real Prometheus histogram.
import type { Metric, Registry } from 'prom-client';

export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface Sample {
  /** For histograms: `<name>_bucket`, `<name>_sum`, `<name>_count`; default the metric's name. */
  metricName?: string;
  labels?: Record<string, string | number>;
  value: number;
}

export interface SnapshotMetricOptions {
  name: string;
  help: string;
  type: MetricType;
  /** The samples now; called once per scrape. */
  read: () => Sample[] | Promise<Sample[]>;
}

/**
 * One empty `sharedLabels` object for every sample: prom-client's formatter memoises the formatted
 * shared labels in a WeakMap keyed by that object and defaults it to a fresh `{}` per sample, so each
 * line of each scrape added a WeakMap entry (an ephemeron the garbage collector must clear).
 */
const NO_SHARED_LABELS = Object.freeze({});

/** Registers a metric read at scrape time in `registry`. */
export function snapshotMetric(registry: Registry, opts: SnapshotMetricOptions): void {
  const metric = {
    name: opts.name,
    help: opts.help,
    type: opts.type,
    aggregator: 'sum',
    async get() {
      const values = await opts.read();
      for (const v of values) (v as { sharedLabels?: object }).sharedLabels = NO_SHARED_LABELS;
      return { name: opts.name, help: opts.help, type: opts.type, aggregator: 'sum', values };
    },
  };
  // prom-client formats any object with this shape; its type names only its own classes.
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * The samples of one histogram series from cumulative bucket counts (`cumulative[i]` counts
 * observations ≤ bounds[i]; one more entry, the last, for +Inf, which equals the count).
 */
export function histogramSamples(
  name: string,
  labels: Record<string, string | number>,
  bounds: readonly number[],
  cumulative: readonly number[],
  sum: number,
  count: number,
): Sample[] {
  const out: Sample[] = bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative[i] ?? 0 }));
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative[bounds.length] ?? count });
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: count });
  return out;
}

/**
 * A label value from a name the proxy chose (a protocol, a reason): kept when it is a short token,
 * 'other' otherwise, so a bug upstream can never put an arbitrary string (a stream name) into a label.
 */
export function tokenLabel(value: string): string {
  return /^[a-z0-9][a-z0-9_.-]{0,39}$/i.test(value) ? value : 'other';
}

/**
 * `read` memoised for one scrape: prom-client asks every metric for its values in one synchronous
 * pass, so metrics sharing a source (all services' stats, the origin list) read it once per scrape.
 */
export function oncePerScrape<T>(read: () => T): () => T {
  let held: { value: T } | undefined;
  return () => {
    if (!held) {
      held = { value: read() };
      queueMicrotask(() => (held = undefined));
    }
    return held.value;
  };
}
