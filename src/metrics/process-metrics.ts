// The process and Node.js runtime metrics that prom-client's collectDefaultMetrics() exports, with its names,
// types, help texts, labels and cluster aggregators, read more cheaply (its collectors cost ~1 ms of CPU and
// ~65 KiB of garbage per scrape). Left out as before (README, metrics): process_open_fds and the active
// handle/resource counts, whose every read walks all open sockets. What each read costs instead:
// - CPU: process.cpuUsage(), one getrusage call, reported as the process's total since it started
//   (prom-client summed the differences since its registration).
// - Memory (RSS, virtual size, data segment): /proc/self/status read into a buffer kept for it and scanned for
//   three fields (prom-client decoded the file to a string and split it into lines and fields).
// - Heap sizes: v8.getHeapStatistics(), a few native counters; process.memoryUsage() also reads
//   /proc/self/stat for an RSS this page takes from status.
// - Event-loop delay statistics: the same native histogram (10 ms resolution), but read at most once per
//   LAG_WINDOW_MS: its mean and standard deviation walk every bucket of the histogram (~40 µs and ~250 µs
//   measured), so a scrape within a window repeats the last window's figures (README, metrics).
// - GC durations: a performance observer that counts into fixed arrays (prom-client hashed a label object
//   per collection).
// Values that stand still between scrapes (start time, fd limit, version, most heap spaces) reuse their text.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants as perf, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, type HeapSpaceInfo } from 'node:v8';
import type { Registry } from 'prom-client';
import { oncePerScrape } from './snapshot-metric.js';
import { fixedSeries, SeriesSet, textMetric, type SeriesSink } from './text-metric.js';

/** Event-loop delay statistics are computed over windows of at least this long (ms). */
export const LAG_WINDOW_MS = 5000;
/** The delay histogram's sampling interval (ms), prom-client's default. */
const LAG_RESOLUTION_MS = 10;
/** prom-client's GC duration buckets (s). */
export const GC_BUCKETS_S = [0.001, 0.01, 0.1, 1, 2, 5] as const;

export interface ProcessMetricsOptions {
  /** Monotonic milliseconds (tests). */
  now?: () => number;
  /** Minimum span of one event-loop delay window (ms). */
  lagWindowMs?: number;
}

/** Registers the process_* and nodejs_* metrics in `registry`. */
export function registerProcessMetrics(registry: Registry, opts: ProcessMetricsOptions = {}): void {
  const now = opts.now ?? (() => performance.now());
  const gauge = (name: string, help: string, collect: (out: SeriesSink) => void, aggregator?: 'first' | 'min' | 'max' | 'average' | 'omit') =>
    textMetric(registry, { name, help, type: 'gauge', collect, ...(aggregator ? { aggregator } : {}) });
  /** A gauge of one unlabelled series read at scrape time. */
  const value: Value = (name, help, read, aggregator) => gauge(name, help, oneSeries(name, read), aggregator);

  const cpu = oncePerScrape(() => process.cpuUsage());
  const counter = (name: string, help: string, read: () => number) => textMetric(registry, { name, help, type: 'counter', collect: oneSeries(name, read) });
  counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => cpu().user / 1e6);
  counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', () => cpu().system / 1e6);
  counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => (cpu().user + cpu().system) / 1e6);

  const started = Math.round(Date.now() / 1000 - process.uptime());
  value('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () => started, 'omit');

  if (process.platform === 'linux') {
    const status = new ProcStatus();
    const read = oncePerScrape(() => status.read());
    value('process_resident_memory_bytes', 'Resident memory size in bytes.', () => read().rss);
    value('process_virtual_memory_bytes', 'Virtual memory size in bytes.', () => read().size);
    value('process_heap_bytes', 'Process heap size in bytes.', () => read().data);
  } else {
    value('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  }
  const maxFds = openFileLimit();
  if (maxFds !== undefined) value('process_max_fds', 'Maximum number of open file descriptors.', () => maxFds);

  registerLag(gauge, value, new LagWindows(now, opts.lagWindowMs ?? LAG_WINDOW_MS));

  const requests = new SeriesSet('nodejs_active_requests', ['type']);
  const active = oncePerScrape(() => activeRequests());
  gauge('nodejs_active_requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', (out) => {
    active().forEach((n, type) => out.add(requests.get('', type), n));
  });
  value('nodejs_active_requests_total', 'Total number of active requests.', () => sum(active().values()));

  const heap = oncePerScrape(() => getHeapStatistics());
  value('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => heap().total_heap_size);
  value('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', () => heap().used_heap_size);
  value(
    'nodejs_external_memory_bytes',
    'Node.js external memory size in bytes.',
    () => (heap() as { external_memory?: number }).external_memory ?? process.memoryUsage().external,
  );

  const spaces = oncePerScrape(() => getHeapSpaceStatistics());
  const shortNames = new Map<string, string>();
  // 'new_space' → 'new', as prom-client labels them.
  const spaceName = (raw: string) => shortNames.get(raw) ?? shortNames.set(raw, raw.slice(0, raw.indexOf('_space'))).get(raw)!;
  const space = (kind: 'total' | 'used' | 'available', pick: (s: HeapSpaceInfo) => number) => {
    const name = `nodejs_heap_space_size_${kind}_bytes`;
    const series = new SeriesSet(name, ['space']);
    gauge(name, `Process heap space size ${kind} from Node.js in bytes.`, (out) => {
      for (const s of spaces()) out.add(series.get('', spaceName(s.space_name)), pick(s));
    });
  };
  space('total', (s) => s.space_size);
  space('used', (s) => s.space_used_size);
  space('available', (s) => s.space_available_size);

  const [major, minor, patch] = process.version.slice(1).split('.');
  const version = fixedSeries('nodejs_version_info', { version: process.version, major: major!, minor: minor!, patch: patch! });
  gauge('nodejs_version_info', 'Node.js version info.', (out) => out.add(version, 1), 'first');

  const gc = new GcDurations();
  textMetric(registry, {
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    type: 'histogram',
    collect: (out) => gc.collect(out),
  });
}

type Gauge = (name: string, help: string, collect: (out: SeriesSink) => void, aggregator?: 'first' | 'min' | 'max' | 'average' | 'omit') => void;
type Value = (name: string, help: string, read: () => number, aggregator?: 'first' | 'min' | 'max' | 'average' | 'omit') => void;

/** The collect of a metric with one unlabelled series: its series made once, its value read per scrape. */
function oneSeries(name: string, read: () => number): (out: SeriesSink) => void {
  const s = new SeriesSet(name).get();
  return (out) => out.add(s, read());
}

function registerLag(gauge: Gauge, value: Value, windows: LagWindows): void {
  // nodejs_eventloop_lag_seconds is prom-client's: how long after a scrape began the next setImmediate ran
  // (each scrape shows the previous one's).
  let lag = 0;
  const name = 'nodejs_eventloop_lag_seconds';
  const s = new SeriesSet(name).get();
  gauge(
    name,
    'Lag of event loop in seconds.',
    (out) => {
      const start = process.hrtime.bigint();
      setImmediate(() => (lag = Number(process.hrtime.bigint() - start) / 1e9));
      out.add(s, lag);
    },
    'average',
  );
  const stat = (suffix: string, help: string, pick: (w: LagFigures) => number, aggregator: 'min' | 'max' | 'average') =>
    value(`nodejs_eventloop_lag_${suffix}_seconds`, help, () => pick(windows.read()), aggregator);
  stat('min', 'The minimum recorded event loop delay.', (w) => w.min, 'min');
  stat('max', 'The maximum recorded event loop delay.', (w) => w.max, 'max');
  stat('mean', 'The mean of the recorded event loop delays.', (w) => w.mean, 'average');
  stat('stddev', 'The standard deviation of the recorded event loop delays.', (w) => w.stddev, 'average');
  stat('p50', 'The 50th percentile of the recorded event loop delays.', (w) => w.p50, 'average');
  stat('p90', 'The 90th percentile of the recorded event loop delays.', (w) => w.p90, 'average');
  stat('p99', 'The 99th percentile of the recorded event loop delays.', (w) => w.p99, 'average');
}

/** Event-loop delay figures of one window, in seconds (as prom-client reports an empty one: min huge, mean NaN). */
export interface LagFigures {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/** The delay histogram read per window: a read within LAG_WINDOW_MS of the last computation repeats its figures. */
export class LagWindows {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private figures: LagFigures | undefined;
  private at = 0;

  constructor(
    private readonly now: () => number,
    private readonly windowMs: number,
  ) {
    this.histogram.enable();
  }

  read(): LagFigures {
    const t = this.now();
    if (this.figures && t - this.at < this.windowMs) return this.figures;
    const h = this.histogram;
    this.figures = {
      min: h.min / 1e9,
      max: h.max / 1e9,
      mean: h.mean / 1e9,
      stddev: h.stddev / 1e9,
      p50: h.percentile(50) / 1e9,
      p90: h.percentile(90) / 1e9,
      p99: h.percentile(99) / 1e9,
    };
    h.reset();
    this.at = t;
    return this.figures;
  }
}

/** VmRSS, VmSize and VmData of /proc/self/status, in bytes, read into one buffer kept for it. */
export class ProcStatus {
  private readonly buf = Buffer.alloc(8192);
  private last = { rss: 0, size: 0, data: 0 };
  private static readonly RSS = Buffer.from('\nVmRSS:');
  private static readonly SIZE = Buffer.from('\nVmSize:');
  private static readonly DATA = Buffer.from('\nVmData:');

  constructor(private readonly path = '/proc/self/status') {}

  /** The three sizes now; the last ones read when the file cannot be read (as prom-client, which kept its gauges). */
  read(): { rss: number; size: number; data: number } {
    let n: number;
    try {
      const fd = openSync(this.path, 'r');
      try {
        n = readSync(fd, this.buf, 0, this.buf.length, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      return this.last;
    }
    const rss = this.kib(ProcStatus.RSS, n);
    const size = this.kib(ProcStatus.SIZE, n);
    const data = this.kib(ProcStatus.DATA, n);
    if (rss !== undefined && size !== undefined && data !== undefined) this.last = { rss, size, data };
    return this.last;
  }

  /** The `<field>:   1234 kB` value in bytes, read digit by digit (no string made). */
  private kib(field: Buffer, end: number): number | undefined {
    let i = this.buf.indexOf(field);
    if (i < 0 || i >= end) return undefined;
    i += field.length;
    while (i < end && (this.buf[i] === 0x20 || this.buf[i] === 0x09)) i++;
    let v = 0;
    let digits = 0;
    for (; i < end && this.buf[i]! >= 0x30 && this.buf[i]! <= 0x39; i++, digits++) v = v * 10 + this.buf[i]! - 0x30;
    return digits > 0 ? v * 1024 : undefined;
  }
}

/** The soft limit on open files (read once, as prom-client does: the proxy raises it before metrics exist). */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/ {2,}/)[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** In-flight libuv requests by C++ class name (few: file system calls, DNS lookups). */
const NONE: ReadonlyMap<string, number> = new Map();

function activeRequests(): ReadonlyMap<string, number> {
  const list = (process as unknown as { _getActiveRequests?: () => unknown[] })._getActiveRequests?.() ?? [];
  if (list.length === 0) return NONE;
  const out = new Map<string, number>();
  for (const r of list) {
    const type = (r as { constructor?: { name?: string } } | null)?.constructor?.name;
    if (type !== undefined) out.set(type, (out.get(type) ?? 0) + 1);
  }
  return out;
}

function sum(xs: Iterable<number>): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}

const GC_KINDS: Record<number, string> = {
  [perf.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perf.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** GC pauses by kind as a histogram over GC_BUCKETS_S, kinds in the order first seen (as prom-client lists them). */
export class GcDurations {
  private readonly kinds = new Map<string, { counts: number[]; sum: number; count: number }>();
  private readonly series = new SeriesSet('nodejs_gc_duration_seconds', ['le', 'kind']);
  private readonly bounds = [...GC_BUCKETS_S.map(String), '+Inf'];

  /** `watch`: observe this process's collections (tests feed `observe` themselves). */
  constructor(watch = true) {
    if (!watch) return;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.observe(GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? -1], e.duration / 1000);
    }).observe({ entryTypes: ['gc'] });
  }

  observe(kind: string | undefined, seconds: number): void {
    if (kind === undefined) return;
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = { counts: new Array<number>(GC_BUCKETS_S.length).fill(0), sum: 0, count: 0 }));
    for (let i = 0; i < GC_BUCKETS_S.length; i++) if (seconds <= GC_BUCKETS_S[i]!) k.counts[i]!++;
    k.sum += seconds;
    k.count++;
  }

  collect(out: SeriesSink): void {
    this.kinds.forEach((k, kind) => {
      for (let i = 0; i < this.bounds.length; i++) out.add(this.series.get('_bucket', this.bounds[i], kind), i < k.counts.length ? k.counts[i]! : k.count);
      out.add(this.series.get('_sum', undefined, kind), k.sum);
      out.add(this.series.get('_count', undefined, kind), k.count);
    });
  }
}
