// Figures for benchmark reports: percentiles, rates and ratio formatting.

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samplesMs: number[]): { p50: number; p99: number; max: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function ratio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(2)}×`;
}

/** A benchmark target and how this run did against it (`ok` undefined: not measured, e.g. with --quick). */
export interface Target {
  target: string;
  measured: string;
  ok: boolean | undefined;
}

/** "Targets: <target>: <measured> — met; <target>: <measured> — NOT met." The same wording in every report. */
export function targetsLine(targets: Target[]): string {
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met');
  return `Targets: ${targets.map((t) => `${t.target}: ${t.measured} — ${verdict(t.ok)}`).join('; ')}.`;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** P(X ≤ j) for X ~ Binomial(n, ½). */
function binomialHalfCdf(n: number, j: number): number {
  let term = 2 ** -n; // C(n, 0) / 2^n
  let sum = 0;
  for (let i = 0; i <= j; i++) {
    sum += term;
    term = (term * (n - i)) / (i + 1);
  }
  return sum;
}

/**
 * A distribution-free confidence interval of the median of `xs` (the sign test's): the k-th smallest and the
 * k-th largest value, k the largest with P(Binomial(n, ½) < k) ≤ (1 − confidence) / 2. It assumes only that the
 * values are independent draws; `coverage` is the interval's exact confidence (≥ the one asked for), or the
 * most n values allow when too few.
 */
export function medianInterval(xs: readonly number[], confidence = 0.95): { lo: number; hi: number; coverage: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { lo: NaN, hi: NaN, coverage: 0 };
  let k = 1;
  while (k + 1 <= Math.ceil(n / 2) && binomialHalfCdf(n, k) <= (1 - confidence) / 2) k++;
  return { lo: s[k - 1]!, hi: s[n - k]!, coverage: 1 - 2 * binomialHalfCdf(n, k - 1) };
}

/**
 * A percentile-bootstrap confidence interval of the mean of `xs` (resampled with a seeded generator, so the same
 * values give the same interval).
 */
export function bootstrapMeanInterval(xs: readonly number[], confidence = 0.95, resamples = 10_000, seed = 13): { lo: number; hi: number } {
  const n = xs.length;
  if (n === 0) return { lo: NaN, hi: NaN };
  let state = seed >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += xs[Math.floor(random() * n)]!;
    means[r] = sum / n;
  }
  means.sort();
  const tail = (1 - confidence) / 2;
  return { lo: means[Math.floor(tail * resamples)]!, hi: means[Math.min(resamples - 1, Math.ceil((1 - tail) * resamples) - 1)]! };
}

/** Two-sided 97.5 % quantile of Student's t with `df` degrees of freedom (for 95 % intervals; ≥ 1 df). */
export function t975(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086];
  if (df <= table.length) return table[Math.max(1, df) - 1]!;
  if (df <= 30) return 2.086 - ((df - 20) * (2.086 - 2.042)) / 10;
  if (df <= 60) return 2.042 - ((df - 30) * (2.042 - 2.0)) / 30;
  return 1.98;
}

/**
 * Ordinary least squares of `y` on the columns of `x` (each row one observation; put a 1 in a column for an
 * intercept): the coefficients and their standard errors.
 */
export function leastSquares(x: readonly number[][], y: readonly number[]): { beta: number[]; se: number[]; df: number } {
  const n = y.length;
  const k = x[0]!.length;
  // Columns scaled to unit size first: bytes and CPU seconds differ by nine orders of magnitude.
  const scale = Array.from({ length: k }, (_, j) => Math.max(...x.map((r) => Math.abs(r[j]!))) || 1);
  const xs = x.map((r) => r.map((v, j) => v / scale[j]!));
  const xtx = Array.from({ length: k }, (_, a) => Array.from({ length: k }, (_, b) => xs.reduce((s, r) => s + r[a]! * r[b]!, 0)));
  const inv = invert(xtx);
  const xty = Array.from({ length: k }, (_, a) => xs.reduce((s, r, i) => s + r[a]! * y[i]!, 0));
  const beta = inv.map((row) => row.reduce((s, v, j) => s + v * xty[j]!, 0));
  const rss = xs.reduce((s, r, i) => s + (y[i]! - r.reduce((t, v, j) => t + v * beta[j]!, 0)) ** 2, 0);
  const df = n - k;
  const s2 = rss / df;
  return { beta: beta.map((b, j) => b / scale[j]!), se: inv.map((row, j) => Math.sqrt(s2 * row[j]!) / scale[j]!), df };
}

/** Gauss–Jordan inverse of a small symmetric positive-definite matrix. */
function invert(m: number[][]): number[][] {
  const k = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: k }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const d = a[c]![c]!;
    if (d === 0) throw new Error('leastSquares: the columns are linearly dependent');
    for (let j = 0; j < 2 * k; j++) a[c]![j]! /= d;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      for (let j = 0; j < 2 * k; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row) => row.slice(k));
}
