// The Prometheus text format, read just enough for charts: `name{labels} value [timestamp]` lines,
// `# TYPE` comments; every sample of one metric name summed (labels are not shown).

/** Returns Map name → {type, sum}. Malformed lines are skipped. */
export function parsePrometheus(body) {
  const out = new Map();
  const types = new Map();
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+([A-Za-z_:][A-Za-z0-9_:]*)\s+(\w+)/.exec(line);
      if (m) types.set(m[1], m[2]);
      continue;
    }
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const name = m[1];
    const entry = out.get(name) ?? { type: undefined, sum: 0 };
    entry.sum += value;
    out.set(name, entry);
  }
  for (const [name, entry] of out) {
    entry.type = types.get(name) ?? types.get(name.replace(/_(total|sum|count|bucket)$/, ''));
  }
  return out;
}

/** The series the console charts, grouped per chart: [{title, unit, series: [{name, rate}]}]. */
export function chartPlan(samples) {
  const names = [...samples.keys()];
  const pick = (test) => names.filter(test).slice(0, 6);
  const isCounter = (n) => samples.get(n).type === 'counter' || n.endsWith('_total');
  const own = (n) => !n.startsWith('process_') && !n.startsWith('nodejs_') && !n.endsWith('_bucket') && !n.endsWith('_sum') && !n.endsWith('_count');
  return [
    { title: 'Bytes per second', unit: 'B/s', series: pick((n) => own(n) && /bytes/.test(n) && isCounter(n)).map((name) => ({ name, rate: true })) },
    {
      title: 'Connections',
      unit: '',
      series: pick((n) => own(n) && /(clients|connections|sessions)/.test(n) && !isCounter(n)).map((name) => ({ name, rate: false })),
    },
    { title: 'CPU (cores)', unit: '', series: pick((n) => n === 'process_cpu_seconds_total').map((name) => ({ name, rate: true })) },
    { title: 'Event loop lag', unit: 's', series: pick((n) => n === 'nodejs_eventloop_lag_seconds').map((name) => ({ name, rate: false })) },
  ].filter((c) => c.series.length > 0);
}
