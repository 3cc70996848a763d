// The Prometheus text page of a registry, byte for byte as prom-client's `registry.metrics()` writes it,
// with less garbage: prom-client builds several arrays and strings per sample (label entries, escapes,
// joins), and at one scrape a second that garbage was most of a scrape's cost (each scavenge walks a heap
// holding thousands of connections). Here each metric's samples are formatted in one pass, and a metric
// whose samples did not change since the last scrape (most of them, most of the time) is answered with
// the text formatted then.
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string | number | undefined>>;

/** One sample as prom-client's `metric.get()` reports it. */
interface ValueOf {
  metricName?: string;
  labels?: Labels;
  sharedLabels?: Labels;
  value: number;
}

interface MetricOf {
  name: string;
  help: string;
  type: string;
  values?: ValueOf[];
}

type Gettable = { name: string; get(): Promise<MetricOf> | MetricOf; getForPromString?: () => Promise<MetricOf>; text?: () => string };

const NEWLINE = Buffer.from('\n');

/** The page of one registry (its default labels are not applied: the proxy sets none). */
export class Exposition {
  /** Per metric: its last samples and their text. */
  private readonly held = new WeakMap<object, { values: ValueOf[]; text: string }>();
  /** Per metric: its last block's text and its bytes. */
  private readonly encoded = new WeakMap<object, { text: string; bytes: Buffer }>();

  constructor(private readonly registry: Registry) {}

  /** The page as text. */
  async text(): Promise<string> {
    return `${(await this.blocks()).join('\n\n')}\n`;
  }

  /**
   * The page as the bytes to send: each metric's block is encoded once and kept while its text stands still
   * (most blocks, most scrapes), and the page is one copy of the blocks. Sent as a Buffer, the answer's body
   * is not concatenated to its header string first (node does that with a string body) nor encoded again.
   */
  async page(): Promise<Buffer> {
    const metrics = this.registry.getMetricsAsArray() as unknown as Gettable[];
    const texts = await this.blocks(metrics);
    const list: Buffer[] = new Array<Buffer>(texts.length * 2 - 1 > 0 ? texts.length * 2 - 1 : 0);
    let length = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i]!;
      let held = this.encoded.get(metrics[i]!);
      if (held?.text !== text) this.encoded.set(metrics[i]!, (held = { text, bytes: Buffer.from(`${text}\n`) }));
      list[2 * i] = held.bytes;
      length += held.bytes.length;
      if (i + 1 < texts.length) {
        list[2 * i + 1] = NEWLINE;
        length++;
      }
    }
    return Buffer.concat(list, length);
  }

  /** Every metric's block of text, in registry order. */
  private async blocks(metrics = this.registry.getMetricsAsArray() as unknown as Gettable[]): Promise<string[]> {
    // Every metric is asked in one synchronous pass (shared reads are memoised for one microtask). A metric
    // that writes its own block (text-metric.ts) is asked for it directly: no promise, no sample objects.
    const parts: (string | Promise<string>)[] = new Array<string>(metrics.length);
    let waiting = false;
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i]!;
      if (m.text) parts[i] = m.text();
      else {
        parts[i] = this.metricText(m);
        waiting = true;
      }
    }
    return waiting ? await Promise.all(parts) : (parts as string[]);
  }

  private async metricText(m: Gettable): Promise<string> {
    // As prom-client: a histogram's text form keeps each bucket's series labels apart (no per-sample merge).
    const metric = await (m.getForPromString ? m.getForPromString() : m.get());
    const values = metric.values ?? [];
    const held = this.held.get(m);
    if (held && sameSamples(held.values, values)) return held.text;
    const name = escapeText(metric.name);
    let text = `# HELP ${name} ${escapeText(metric.help)}\n# TYPE ${name} ${metric.type}`;
    for (const v of values) text += `\n${v.metricName ?? name}${labelText(v.labels, v.sharedLabels)} ${valueText(v.value)}`;
    // A copy: prom-client updates a counter's sample object in place, so the live one cannot be compared later.
    this.held.set(m, { values: values.map(copySample), text });
    return text;
  }
}

function copySample(v: ValueOf): ValueOf {
  return {
    metricName: v.metricName,
    value: v.value,
    labels: v.labels && { ...v.labels },
    sharedLabels: v.sharedLabels && { ...v.sharedLabels },
  };
}

/**
 * Whether the held copy `a` and the current samples `b` would be formatted the same (compared field by field,
 * nothing allocated; never by identity: prom-client mutates its sample objects in place).
 */
function sameSamples(a: readonly ValueOf[], b: readonly ValueOf[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.metricName !== y.metricName || !Object.is(x.value, y.value) || !sameLabels(x.labels, y.labels) || !sameLabels(x.sharedLabels, y.sharedLabels))
      return false;
  }
  return true;
}

function sameLabels(a: Labels | undefined, b: Labels | undefined): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (!b || a[k] !== b[k]) return false;
    n++;
  }
  for (const k in b) if (--n < 0 || !(k in a!)) return false;
  return n === 0;
}

/**
 * `{a="x",b="y"}` as prom-client writes it: the sample's own labels in their order (those also among
 * the shared ones left out), then the shared ones (a histogram bucket's series labels); '' for none.
 */
function labelText(labels: Labels | undefined, shared: Labels | undefined): string {
  let out = '';
  for (const k in labels) if (!shared || !Object.prototype.hasOwnProperty.call(shared, k)) out += pair(out, k, labels[k]);
  for (const k in shared) out += pair(out, k, shared[k]);
  return out ? `${out}}` : '';
}

function pair(before: string, k: string, v: string | number | undefined): string {
  return `${before ? ',' : '{'}${k}="${typeof v === 'string' ? escapeLabel(v) : v}"`;
}

/** A sample value as prom-client writes it (its spelling of NaN included). */
export function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

export function escapeText(s: string): string {
  return /[\\\n]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s;
}

export function escapeLabel(s: string): string {
  return /[\\\n"]/.test(s) ? escapeText(s).replace(/"/g, '\\"') : s;
}
