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
