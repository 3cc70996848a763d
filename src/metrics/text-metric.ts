// A metric that writes its own block of the Prometheus page. It still has prom-client's metric shape
// (`get()` with samples), so prom-client's `registry.metrics()` and the workers' JSON (`getMetricsAsJSON`,
// summed by worker 0) read it as any other; the page of one process asks `text()` instead. `text()` builds
// no sample objects: each series is a prepared object holding its line prefix (`name{labels} `), made once,
// and the block is rebuilt only when a series or value differs from the last scrape's (at one scrape a
// second, the garbage of per-scrape sample objects, label objects and formatting was most of a scrape's cost).
import type { Metric, Registry } from 'prom-client';
import { escapeLabel, escapeText, valueText } from './exposition.js';

/** One series of a metric: its sample name, labels and the page line up to the value, prepared once. */
export interface Series {
  readonly metricName: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** `name{a="x",b="y"} ` (a trailing space, then the value follows). */
  readonly prefix: string;
}

/** Where a metric's `collect` puts its samples: the page's block, or prom-client sample objects. */
export interface SeriesSink {
  add(series: Series, value: number): void;
}

export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface TextMetricOptions {
  name: string;
  help: string;
  type: MetricType;
  /** How worker 0 combines the workers' values (prom-client's aggregators); default sum. */
  aggregator?: 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';
  /** Adds every sample, in page order; called once per scrape. */
  collect: (out: SeriesSink) => void;
}

/** prom-client's metric shape, plus the page block. */
export interface TextMetric {
  name: string;
  help: string;
  type: MetricType;
  aggregator: string;
  get(): { name: string; help: string; type: MetricType; aggregator: string; values: { metricName?: string; labels: Record<string, string>; value: number }[] };
  text(): string;
}

/** Registers a metric read at scrape time that writes its own page block. */
export function textMetric(registry: Registry, opts: TextMetricOptions): TextMetric {
  const block = new BlockText(`# HELP ${escapeText(opts.name)} ${escapeText(opts.help)}\n# TYPE ${escapeText(opts.name)} ${opts.type}`);
  const aggregator = opts.aggregator ?? 'sum';
  const metric: TextMetric = {
    name: opts.name,
    help: opts.help,
    type: opts.type,
    aggregator,
    get() {
      const values: ReturnType<TextMetric['get']>['values'] = [];
      opts.collect({
        add: (s, value) =>
          values.push(s.metricName === undefined ? { labels: { ...s.labels }, value } : { metricName: s.metricName, labels: { ...s.labels }, value }),
      });
      return { name: opts.name, help: opts.help, type: opts.type, aggregator, values };
    },
    text() {
      block.begin();
      opts.collect(block);
      return block.end();
    },
  };
  // prom-client formats and aggregates any object with this shape; its type names only its own classes.
  registry.registerMetric(metric as unknown as Metric);
  return metric;
}

/** Series a SeriesSet keeps before it forgets them all (they are made again on use). */
const MAX_KEPT_SERIES = 4096;

/**
 * The series of one metric, made on first use and kept: looked up by up to three label values without
 * building a key. Label values must come from bounded sets (protocols, reasons, heap spaces).
 */
export class SeriesSet {
  private root = new Map<unknown, unknown>();
  private count = 0;

  /** `labelNames` in the order they are written. */
  constructor(
    private readonly name: string,
    private readonly labelNames: readonly string[] = [],
  ) {}

  /**
   * The series `name + suffix` ('' or `_bucket`/`_sum`/`_count`) with these label values, in `labelNames`
   * order; an undefined value leaves that label out (a histogram's `_sum` has no `le`). One map per position,
   * keyed by the value itself: a lookup builds no key.
   */
  get(suffix = '', a?: string, b?: string, c?: string): Series {
    const leaf = this.level(this.level(this.level(this.level(this.root, suffix), a ?? SKIPPED), b ?? SKIPPED), c ?? SKIPPED);
    let s = leaf.get(SERIES) as Series | undefined;
    if (!s) {
      s = makeSeries(this.name + suffix, this.labelNames, [a, b, c], suffix !== '');
      leaf.set(SERIES, s);
      // Label values that come and go (origin server ids) must not grow the set for ever: start afresh.
      if (++this.count > MAX_KEPT_SERIES) {
        this.root = new Map();
        this.count = 0;
      }
    }
    return s;
  }

  private level(m: Map<unknown, unknown>, key: unknown): Map<unknown, unknown> {
    let next = m.get(key) as Map<unknown, unknown> | undefined;
    if (!next) m.set(key, (next = new Map()));
    return next;
  }
}

/** The key of a label left out, and of the series itself, in SeriesSet's maps (never a label value). */
const SKIPPED = Symbol('skipped');
const SERIES = Symbol('series');

function makeSeries(metricName: string, names: readonly string[], values: readonly (string | undefined)[], suffixed: boolean): Series {
  const labels: Record<string, string> = {};
  let text = '';
  names.forEach((n, i) => {
    const v = values[i];
    if (v === undefined) return;
    labels[n] = v;
    text += `${text ? ',' : '{'}${n}="${escapeLabel(v)}"`;
  });
  return { metricName: suffixed ? metricName : undefined, labels, prefix: `${escapeText(metricName)}${text ? `${text}}` : ''} ` };
}

/**
 * A block of the page, rebuilt only when one of its series or values differs from the last build:
 * `begin()`, `add()` per sample, `end()` gives the text. Comparing costs no allocation.
 */
export class BlockText implements SeriesSink {
  private series: Series[] = [];
  private values: number[] = [];
  private n = 0;
  private changed = false;
  private text: string | undefined;

  constructor(private readonly head: string) {}

  begin(): void {
    this.n = 0;
    this.changed = false;
  }

  add(series: Series, value: number): void {
    const i = this.n++;
    if (this.series[i] !== series || !Object.is(this.values[i], value)) {
      this.series[i] = series;
      this.values[i] = value;
      this.changed = true;
    }
  }

  end(): string {
    if (this.text === undefined || this.changed || this.series.length !== this.n) {
      this.series.length = this.n;
      this.values.length = this.n;
      let t = this.head;
      for (let i = 0; i < this.n; i++) t += `\n${this.series[i]!.prefix}${valueText(this.values[i]!)}`;
      this.text = t;
      this.changed = false;
    }
    return this.text;
  }
}

/** A series whose labels never change (an info metric's), made once. */
export function fixedSeries(metricName: string, labels: Readonly<Record<string, string>>): Series {
  const names = Object.keys(labels);
  return makeSeries(
    metricName,
    names,
    names.map((n) => labels[n]),
    false,
  );
}
